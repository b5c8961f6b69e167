"use strict";
// One console logger writing to STDERR only (stdout is reserved for the READY line).
// Level from LOG_LEVEL (syslog levels: emerg alert crit error warning notice info debug), default "warning".
const winston = require("winston");

exports.DEFAULT = {
  logger: () => {
    const level = process.env.LOG_LEVEL || "warning";
    const levels = winston.config.syslog.levels;
    return {
      loggers: [
        () =>
          winston.createLogger({
            format: winston.format.combine(
              winston.format.timestamp(),
              winston.format.printf((info) => `${info.timestamp} - ${info.level}: ${info.message}`),
            ),
            level,
            levels,
            transports: [new winston.transports.Console({ stderrLevels: Object.keys(levels) })],
          }),
      ],
      maxLogStringLength: 100,
      maxLogArrayLength: 10,
    };
  },
};
