import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  type Tracer,
} from "@opentelemetry/api";
import type { Operation } from "../binding/invocation.js";
import type { OnceRunner } from "../transport/durable/intake.js";
import type {
  DeliveryInfo,
  DeliveryScope,
  DeliverySettlement,
  DurableInstrumentation,
  DurableIntakeDescription,
  HeaderCarrier,
} from "./instrumentation.js";
import type { RedisTracing } from "./redis-tracing.js";
import {
  callerContext,
  consumerStartAttributes,
  contextToCarry,
  recordFailure,
  recordReply,
} from "./request-tracing.js";
import {
  ATTR_BINDING_DURABLE_ACTION,
  ATTR_BINDING_DURABLE_REPLAYED,
  ATTR_BINDING_DURABLE_RETRY_DELAY_MS,
  ATTR_BINDING_OPERATION,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_NATS_MESSAGE_DELIVERY_COUNT,
  ATTR_MESSAGING_NATS_MESSAGE_STREAM_SEQUENCE,
} from "./semconv.js";

/**
 * Traces one binding's durable (JetStream) deliveries the way RequestTracing
 * traces direct requests: a CONSUMER span `process <subject>` per delivery,
 * child of the `traceparent` the request was published with, so every
 * delivery of a request (first, redelivered, last) lands in the caller's
 * trace. Besides the direct request's attributes it names the delivery
 * (count, message id, stream sequence) and what became of it.
 *
 * Counting stays with the intake's DurableObserver (durable-metrics.ts); this
 * records spans only.
 */
export class DeliveryTracing implements DurableInstrumentation {
  private readonly bindingName: string;
  private readonly subject: string;
  private readonly spanName: string;
  private readonly startAttributes: Attributes;

  constructor(
    private readonly tracer: Tracer,
    intake: DurableIntakeDescription,
    private readonly redis: RedisTracing,
  ) {
    this.bindingName = intake.bindingName;
    this.subject = intake.subject;
    this.spanName = `process ${intake.subject}`;
    this.startAttributes = consumerStartAttributes(
      intake.subject,
      intake.consumer,
      intake.bindingName,
    );
  }

  begin(
    headers: HeaderCarrier | undefined,
    bodyBytes: number,
    delivery: DeliveryInfo,
  ): DeliveryScope {
    const parent = callerContext(headers);
    // A delivery costs a JetStream round trip or two anyway: its own
    // attributes go in at the start, where samplers see them.
    const attributes: Attributes = {
      ...this.startAttributes,
      [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: bodyBytes,
      [ATTR_MESSAGING_NATS_MESSAGE_DELIVERY_COUNT]: delivery.deliveryCount,
      [ATTR_MESSAGING_NATS_MESSAGE_STREAM_SEQUENCE]: delivery.streamSequence,
    };
    if (delivery.messageId !== undefined) {
      attributes[ATTR_MESSAGING_MESSAGE_ID] = delivery.messageId;
    }
    // The consumer's filter is the binding's subject, so this is it; named
    // after the subject the message arrived on all the same.
    let name = this.spanName;
    if (delivery.subject !== this.subject) {
      name = `process ${delivery.subject}`;
      attributes[ATTR_MESSAGING_DESTINATION_NAME] = delivery.subject;
    }
    const span = this.tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
    return new TracedDelivery(span, contextToCarry(parent, span, span.isRecording()));
  }

  runner(inner: OnceRunner): OnceRunner {
    return this.redis.onceRunner(inner, this.bindingName);
  }
}

class TracedDelivery implements DeliveryScope {
  private ended = false;

  constructor(
    private readonly span: Span,
    private readonly context: Context | undefined,
  ) {}

  run<T>(work: () => T): T {
    return this.context === undefined ? work() : context.with(this.context, work);
  }

  decoded(operation: Operation): void {
    if (this.span.isRecording()) this.span.setAttribute(ATTR_BINDING_OPERATION, operation);
  }

  settled(settlement: DeliverySettlement): void {
    if (this.ended) return;
    this.ended = true;
    const span = this.span;
    if (span.isRecording()) {
      const { action, error } = settlement;
      span.setAttribute(ATTR_BINDING_DURABLE_ACTION, action);
      if (settlement.replayed) span.setAttribute(ATTR_BINDING_DURABLE_REPLAYED, true);
      switch (action) {
        case "ack":
        case "term":
        case "dead-letter":
          // Answered (to Binding-Reply-To, when the request names one).
          recordReply(span, error);
          break;
        case "retry":
          // Not answered: the failure waits for the next delivery, which is
          // this trace's next span.
          if (settlement.retryDelayMs !== undefined) {
            span.setAttribute(ATTR_BINDING_DURABLE_RETRY_DELAY_MS, settlement.retryDelayMs);
          }
          if (error !== undefined) recordFailure(span, error);
          break;
        default:
          // release: handed back untouched (or its result dropped) for
          // another delivery; no failure of its own.
          break;
      }
    }
    span.end();
  }
}
