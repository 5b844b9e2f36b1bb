import { context, isSpanContextValid, trace } from "@opentelemetry/api";
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
  "natsPassword",
  "natsToken",
  "*.redisPassword",
  "*.sentinelPassword",
  "*.clientKey",
  "*.password",
  "*.token",
  "*.natsPassword",
  "*.natsToken",
  // ioredis hangs the failed command on its errors: AUTH's arguments are the
  // password, SET's the value. Logging `{ err }` must show neither.
  "err.command.args",
  "*.command.args",
];

/**
 * `trace_id`/`span_id` of the span active where the line is logged, so a log
 * line found by trace id in the log store leads to its trace and back. Pino
 * merges into what this returns, hence a new object every time.
 */
export function traceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: "redis-binding-worker" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "****" },
    formatters: { level: (label: string) => ({ level: label }) },
    mixin: traceFields,
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
