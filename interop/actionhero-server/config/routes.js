"use strict";
// Same routes as Actionhero's stock config/routes.js (the core routes file is only
// used when running Actionhero's own repo, so a project must provide its own).
exports.DEFAULT = {
  routes: () => {
    return {
      get: [
        { path: "/status", action: "status" },
        { path: "/swagger", action: "swagger" },
        { path: "/createChatRoom", action: "createChatRoom" },
      ],
    };
  },
};
