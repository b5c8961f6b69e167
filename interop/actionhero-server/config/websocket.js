"use strict";
// Stock websocket config, except:
//  - clientJsName: null -> do not write public/javascript/ActionheroWebsocketClient.js at boot
//    (keeps PUBLIC_DIR untouched; js-client.js compiles the client itself), unless
//    CLIENT_JS=1 (stock behaviour: the browser tests and the library comparison need it;
//    point PUBLIC_DIR at a scratch copy then);
//  - server.pingInterval from PING_INTERVAL when set (Primus default 30000; 0 disables pings).
exports.DEFAULT = {
  websocket: () => {
    const server = {};
    if (process.env.PING_INTERVAL !== undefined && process.env.PING_INTERVAL !== "") {
      server.pingInterval = parseInt(process.env.PING_INTERVAL, 10);
    }
    return {
      clientJsName: process.env.CLIENT_JS === "1" ? "ActionheroWebsocketClient" : null,
      server,
    };
  },
};
