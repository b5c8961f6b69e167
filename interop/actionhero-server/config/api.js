"use strict";
// Project config for the interop Actionhero server. Merged over Actionhero's own
// defaults (node_modules/actionhero/dist/config/api.js). boot.js sets the env vars.
const path = require("path");

const runDir = process.env.INTEROP_RUN_DIR || path.join(__dirname, "..", "..", ".run");

exports.DEFAULT = {
  general: () => {
    return {
      // Same text as the stock config produces (package name "actionhero").
      welcomeMessage: "Welcome to the actionhero api",
      simultaneousActions: 5,
      // A per-process token (set by boot.js) isolates this server's redis pub/sub
      // traffic (chat, RPC) from any other Actionhero process on the same redis.
      serverToken: process.env.SERVER_TOKEN || "change-me",
      // rooms that exist when the server starts (same as Actionhero's test config)
      startingChatRooms: {
        defaultRoom: {},
        otherRoom: {},
      },
      paths: {
        // action/task/server/cli/initializer paths stay Actionhero's defaults,
        // i.e. the stock sample actions from node_modules/actionhero/dist/actions.
        public: [process.env.PUBLIC_DIR || path.join(__dirname, "..", "public")],
        pid: [path.join(runDir, "pids")],
        log: [], // no file loggers (see logger.js)
        plugin: [],
        test: [],
      },
    };
  },
};
