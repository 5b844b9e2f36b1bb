import type { Operation } from "../binding/invocation.js";
import type { RedisPort } from "../binding/redis-port.js";
import type { BindingError } from "../errors.js";
import type { AttemptObserver } from "../redis/retry.js";

/**
 * What the transport tells telemetry about requests. Nothing here imports
 * OpenTelemetry: the transport (and its tests) only see these interfaces, and
 * the worker wires in the real implementation (request-tracing.ts) or none.
 */

/** Request headers, read-only; NATS's MsgHdrs fits as it is. */
export interface HeaderCarrier {
  get(name: string): string;
  keys(): string[];
}

/** One request, from the moment its message arrives until its reply is sent. */
export interface RequestScope {
  /**
   * Runs `work` in the request's trace context. Everything started inside,
   * awaited or not (Redis commands, log lines), belongs to this request.
   */
  run<T>(work: () => T): T;
  /** The request decoded to this operation. */
  decoded(operation: Operation): void;
  /** The reply was sent; `error` when it was an error reply. Call once. */
  end(error: BindingError | undefined): void;
}

/** One binding's requests. */
export interface RequestInstrumentation {
  /**
   * A message arrived; `headers` may carry `traceparent`/`tracestate`. A
   * durable intake can use this too, once per delivery; its redeliveries are
   * counted from its DurableObserver events (see durable-metrics.ts).
   */
  begin(headers: HeaderCarrier | undefined, bodyBytes: number): RequestScope;
}

const NOOP_SCOPE: RequestScope = Object.freeze({
  run: <T>(work: () => T): T => work(),
  decoded: () => {},
  end: () => {},
});

/** For endpoints built without telemetry (unit tests, tools). */
export const NO_INSTRUMENTATION: RequestInstrumentation = Object.freeze({
  begin: () => NOOP_SCOPE,
});

/**
 * One binding's Redis side: sees every attempt (through the retry loop's
 * hook) and may wrap the port to learn which command each call sends.
 */
export interface RedisInstrumentation extends AttemptObserver {
  port(inner: RedisPort): RedisPort;
}
