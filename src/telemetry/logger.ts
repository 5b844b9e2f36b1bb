import { type Logger, pino } from "pino";

/**
 * Paths pino blanks out wherever they appear in a log object: a secret that
 * slips into a log call still never reaches the output.
 */
const REDACTED_PATHS = [
  "redisPassword",
  "sentinelPassword",
  "clientKey",
  "password",
  "token",
  "*.redisPassword",
  "*.sentinelPassword",
  "*.clientKey",
  "*.password",
  "*.token",
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: "redis-binding-worker" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "****" },
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
