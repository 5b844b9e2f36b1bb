import type { Operation } from "../binding/invocation.js";
import type { RedisPort } from "../binding/redis-port.js";
import type { BindingError } from "../errors.js";
import type { AttemptObserver } from "../redis/retry.js";
import type { OnceRunner } from "../transport/durable/intake.js";
import type { DurableAction } from "../transport/durable/observer.js";

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
   * A message arrived; `headers` may carry `traceparent`/`tracestate`.
   * Durable deliveries have their own (DurableInstrumentation below).
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

/** One binding's durable intake, for its spans. */
export interface DurableIntakeDescription {
  readonly bindingName: string;
  /** The durable subject, `<prefix>.durable.<name>`. */
  readonly subject: string;
  readonly stream: string;
  /** The durable consumer every worker shares: the consumer group. */
  readonly consumer: string;
}

/** One JetStream delivery of a durable request. */
export interface DeliveryInfo {
  /** The subject it arrived on. */
  readonly subject: string;
  /** 1 for the request's first delivery. */
  readonly deliveryCount: number;
  /** Its `Nats-Msg-Id`, when it has one. */
  readonly messageId: string | undefined;
  readonly streamSequence: number;
}

/** What became of a delivery. */
export interface DeliverySettlement {
  /**
   * `ack` and `term` were answered, `dead-letter` answered and dead-lettered,
   * `retry` handed back for redelivery after `retryDelayMs` unanswered,
   * `release` handed back unprocessed (the worker is stopping).
   */
  readonly action: DurableAction;
  /** The failure, for every action but `ack` and `release`. */
  readonly error: BindingError | undefined;
  /** Applied by an earlier delivery: its recorded outcome was answered. */
  readonly replayed: boolean;
  /** The nak delay of a `retry`. */
  readonly retryDelayMs?: number;
}

/** One durable delivery, from the moment the worker takes it until it is settled. */
export interface DeliveryScope {
  /** As RequestScope.run: Redis calls and log lines inside belong to this delivery. */
  run<T>(work: () => T): T;
  decoded(operation: Operation): void;
  /** The delivery was settled (acked, naked, terminated). Only the first call counts. */
  settled(settlement: DeliverySettlement): void;
}

/**
 * One binding's durable deliveries: a span per delivery, and the Redis calls
 * of the at-most-once runner under it. (Deliveries are counted from the
 * intake's DurableObserver events, see durable-metrics.ts.)
 */
export interface DurableInstrumentation {
  /** A delivery was taken; `headers` may carry `traceparent`/`tracestate`. */
  begin(
    headers: HeaderCarrier | undefined,
    bodyBytes: number,
    delivery: DeliveryInfo,
  ): DeliveryScope;
  /** `inner`, its Redis calls traced as children of the delivery they run for. */
  runner(inner: OnceRunner): OnceRunner;
}

const NOOP_DELIVERY: DeliveryScope = Object.freeze({
  run: <T>(work: () => T): T => work(),
  decoded: () => {},
  settled: () => {},
});

/** For intakes built without telemetry. */
export const NO_DURABLE_INSTRUMENTATION: DurableInstrumentation = Object.freeze({
  begin: () => NOOP_DELIVERY,
  runner: (inner: OnceRunner) => inner,
});

/**
 * One binding's Redis side: sees every attempt (through the retry loop's
 * hook) and may wrap the port to learn which command each call sends.
 */
export interface RedisInstrumentation extends AttemptObserver {
  port(inner: RedisPort): RedisPort;
}
