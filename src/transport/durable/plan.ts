import type { BindingError } from "../../errors.js";

/**
 * How a binding's seed settings become JetStream behaviour (README "Durable
 * requests"):
 *
 * - `processingTimeout` is the consumer's ack wait: a request whose worker
 *   went silent (died, lost NATS) for that long goes to another worker. A
 *   live worker keeps its requests with progress acks, so a slow Redis does
 *   not cause a second delivery.
 * - `redeliverInterval` is the delay before a request that failed for a
 *   reason that may pass (503, 504) is delivered again.
 * - `"0"` in either turns redelivery off: one delivery per request.
 * - `maxDeliveries` bounds deliveries; the last failure is answered and the
 *   request published to the dead-letter subject.
 */
export interface DeliveryPlan {
  readonly redelivery: boolean;
  readonly ackWaitMs: number;
  readonly redeliverIntervalMs: number;
  /** The consumer's max_deliver. */
  readonly maxDeliver: number;
  /** How long the applied-request records live in Redis. */
  readonly recordTtlMs: number;
}

export interface DurableSettings {
  readonly processingTimeoutMs: number;
  readonly redeliverIntervalMs: number;
  readonly maxDeliveries: number;
}

/**
 * Ack wait when `processingTimeout` is "0": nothing is redelivered then, so it
 * only says when a request held by a dead worker is declared abandoned (and
 * dead-lettered). The seed's default processing timeout.
 */
const ACK_WAIT_WITHOUT_REDELIVERY_MS = 15_000;
/** Records outlive the stream's duplicate window (setup.ts) by far, even for short plans. */
const MIN_RECORD_TTL_MS = 10 * 60_000;

export function deliveryPlan(settings: DurableSettings, requestTimeoutMs: number): DeliveryPlan {
  const redelivery = settings.processingTimeoutMs > 0 && settings.redeliverIntervalMs > 0;
  const ackWaitMs =
    settings.processingTimeoutMs > 0
      ? settings.processingTimeoutMs
      : ACK_WAIT_WITHOUT_REDELIVERY_MS;
  const maxDeliver = redelivery ? Math.max(1, settings.maxDeliveries) : 1;
  // The last delivery of a request can come at most this long after its
  // first: every delivery may run to its deadline and then wait out the ack
  // wait or the redelivery delay. Twice that, and never under ten minutes.
  const horizonMs = maxDeliver * (ackWaitMs + settings.redeliverIntervalMs + requestTimeoutMs);
  return Object.freeze({
    redelivery,
    ackWaitMs,
    redeliverIntervalMs: settings.redeliverIntervalMs,
    maxDeliver,
    recordTtlMs: Math.max(2 * horizonMs, MIN_RECORD_TTL_MS),
  });
}

/** What a worker does with a delivery once it has a result. */
export type Decision =
  /** Success: reply, then ack. */
  | { readonly action: "ack" }
  /** A failure that cannot pass: reply, then term. */
  | { readonly action: "term" }
  /** A failure that may pass, deliveries left: nak with a delay, no reply. */
  | { readonly action: "retry"; readonly delayMs: number }
  /** A failure that may pass, no deliveries left: reply, dead-letter, term. */
  | { readonly action: "dead-letter" };

const ACK: Decision = Object.freeze({ action: "ack" });
const TERM: Decision = Object.freeze({ action: "term" });
const DEAD_LETTER: Decision = Object.freeze({ action: "dead-letter" });

export function decide(
  error: BindingError | undefined,
  deliveryCount: number,
  plan: DeliveryPlan,
): Decision {
  if (error === undefined) return ACK;
  if (!error.retryable) return TERM;
  if (plan.redelivery && deliveryCount < plan.maxDeliver) {
    return { action: "retry", delayMs: plan.redeliverIntervalMs };
  }
  return DEAD_LETTER;
}
