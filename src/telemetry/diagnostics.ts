import { type DiagLogFunction, DiagLogLevel, diag } from "@opentelemetry/api";
import { diagLogLevelFromString } from "@opentelemetry/core";
import type { Logger } from "pino";

/**
 * Sends the OpenTelemetry SDK's own messages (an exporter that cannot reach
 * its collector, a bad OTEL_* value) through pino, so stdout stays one JSON
 * object per line. OTEL_LOG_LEVEL sets the level as usual; unset, only
 * warnings and errors, since the SDK's info lines mean little to operators.
 */
export function routeDiagnostics(log: Logger, level = process.env.OTEL_LOG_LEVEL): DiagLogLevel {
  const otel = log.child({ component: "opentelemetry" });
  const forward =
    (method: "error" | "warn" | "info" | "debug" | "trace"): DiagLogFunction =>
    (message, ...args) => {
      const details = describe(args);
      if (details === undefined) otel[method](message);
      else otel[method]({ details }, message);
    };
  const logLevel =
    level === undefined || level.trim() === ""
      ? DiagLogLevel.WARN
      : (diagLogLevelFromString(level) ?? DiagLogLevel.WARN);
  diag.setLogger(
    {
      error: forward("error"),
      warn: forward("warn"),
      info: forward("info"),
      debug: forward("debug"),
      verbose: forward("trace"),
    },
    { logLevel, suppressOverrideMessage: true },
  );
  return logLevel;
}

/**
 * Only errors' messages and plain scalars are kept: the SDK sometimes passes
 * whole option objects, which can hold exporter headers (API keys).
 */
function describe(args: unknown[]): string | undefined {
  const parts: string[] = [];
  for (const arg of args) {
    if (arg instanceof Error) parts.push(arg.message);
    else if (typeof arg === "string" || typeof arg === "number" || typeof arg === "boolean") {
      parts.push(String(arg));
    }
  }
  return parts.length === 0 ? undefined : parts.join(" ");
}
