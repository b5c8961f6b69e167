"use strict";
// The web server is required by the websocket server (Primus attaches to its HTTP server).
exports.DEFAULT = {
  web: () => {
    return {
      port: parseInt(process.env.PORT || "8080", 10), // 0 = any free port (boot.js prints the real one)
      bindIP: process.env.BIND_IP || "127.0.0.1",
    };
  },
};
