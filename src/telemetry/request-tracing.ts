import {
  type Attributes,
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";
import type { Operation } from "../binding/invocation.js";
import type { BindingError } from "../errors.js";
import type { HeaderCarrier, RequestInstrumentation, RequestScope } from "./instrumentation.js";
import type { BindingMetrics } from "./metrics.js";
import {
  ATTR_BINDING_NAME,
  ATTR_BINDING_OPERATION,
  ATTR_BINDING_REPLY_CODE,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
} from "./semconv.js";
import { HEADER_GETTER } from "./trace-headers.js";

export interface EndpointDescription {
  readonly bindingName: string;
  readonly subject: string;
  readonly queueGroup: string;
}

/**
 * The options of every request's span, one frozen object. No attributes at
 * the start: the SDK copies and validates whatever attributes startSpan is
 * given before it even asks the sampler, for the 90 % of requests that a 10 %
 * sampler then drops too (a third of startSpan's cost in the profile). The
 * samplers the SDK can be configured with (OTEL_TRACES_SAMPLER: always_*,
 * traceidratio, parentbased_*) never look at attributes.
 */
const CONSUMER_SPAN = Object.freeze({ kind: SpanKind.CONSUMER });

/**
 * Traces and counts one binding's requests: a CONSUMER span `process
 * <subject>` per request, child of the caller's `traceparent` when there is
 * one, plus the invocation metrics.
 *
 * Cheap when nothing records: a request the sampler drops costs startSpan
 * with no attributes and no context switch (unless the caller's trace id is
 * wanted in log lines, see contextToCarry); attributes, the ones known up
 * front being one frozen object shared by every request, are only set on
 * spans that record. The functions after it are shared with the durable
 * intake's spans (delivery-tracing.ts).
 */
export class RequestTracing implements RequestInstrumentation {
  private readonly spanName: string;
  private readonly startAttributes: Attributes;

  constructor(
    private readonly tracer: Tracer,
    private readonly metrics: BindingMetrics,
    endpoint: EndpointDescription,
  ) {
    this.spanName = `process ${endpoint.subject}`;
    this.startAttributes = consumerStartAttributes(
      endpoint.subject,
      endpoint.queueGroup,
      endpoint.bindingName,
    );
  }

  begin(headers: HeaderCarrier | undefined, bodyBytes: number): RequestScope {
    const parent = callerContext(headers);
    const span = this.tracer.startSpan(this.spanName, CONSUMER_SPAN, parent);
    const recording = span.isRecording();
    if (recording) {
      span.setAttributes(this.startAttributes);
      span.setAttribute(ATTR_MESSAGING_MESSAGE_BODY_SIZE, bodyBytes);
    }
    this.metrics.started();
    return new TracedRequest(span, contextToCarry(parent, span, recording), this.metrics);
  }
}

/**
 * What a CONSUMER span starts with, known before any message arrives: one
 * frozen object per endpoint (or durable intake), shared by all its spans.
 */
export function consumerStartAttributes(
  subject: string,
  consumerGroup: string,
  bindingName: string,
): Attributes {
  return Object.freeze({
    [ATTR_MESSAGING_SYSTEM]: "nats",
    [ATTR_MESSAGING_DESTINATION_NAME]: subject,
    [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: consumerGroup,
    [ATTR_MESSAGING_OPERATION_NAME]: "process",
    [ATTR_MESSAGING_OPERATION_TYPE]: "process",
    [ATTR_BINDING_NAME]: bindingName,
  });
}

/** The caller's trace context from the message headers; ROOT_CONTEXT (a new trace) without one. */
export function callerContext(headers: HeaderCarrier | undefined): Context {
  return headers === undefined
    ? ROOT_CONTEXT
    : propagation.extract(ROOT_CONTEXT, headers, HEADER_GETTER);
}

/**
 * The context to run a message's work in, or undefined to run it as it is.
 * Entering a context costs an AsyncLocalStorage switch per message. It is
 * worth it only when there is a trace to carry: a span we record, or the
 * caller's own trace id for the log lines. An unsampled root trace that
 * nobody will ever see runs without one.
 */
export function contextToCarry(
  parent: Context,
  span: Span,
  recording: boolean,
): Context | undefined {
  const carry =
    recording ||
    (parent !== ROOT_CONTEXT &&
      isSpanContextValid(trace.getSpanContext(parent) ?? INVALID_SPAN_CONTEXT));
  return carry ? trace.setSpan(parent, span) : undefined;
}

/** The reply's code on a recording span; an error reply also marks the span failed. */
export function recordReply(span: Span, error: BindingError | undefined): void {
  span.setAttribute(ATTR_BINDING_REPLY_CODE, error === undefined ? 200 : error.status);
  if (error !== undefined) recordFailure(span, error);
}

/**
 * Marks a recording span failed, whoever was at fault: it stands out, and
 * says which error in a low-cardinality field.
 */
export function recordFailure(span: Span, error: BindingError): void {
  span.setAttribute(ATTR_ERROR_TYPE, error.code);
  span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

class TracedRequest implements RequestScope {
  private readonly startedAt = performance.now();
  /** A label value, so only known operations: "unknown" until decoded. */
  private operation: Operation | "unknown" = "unknown";

  constructor(
    private readonly span: Span,
    private readonly context: Context | undefined,
    private readonly metrics: BindingMetrics,
  ) {}

  run<T>(work: () => T): T {
    return this.context === undefined ? work() : context.with(this.context, work);
  }

  decoded(operation: Operation): void {
    this.operation = operation;
    if (this.span.isRecording()) this.span.setAttribute(ATTR_BINDING_OPERATION, operation);
  }

  end(error: BindingError | undefined): void {
    const code = error === undefined ? 200 : error.status;
    this.metrics.finished(this.operation, code, (performance.now() - this.startedAt) / 1000);
    const span = this.span;
    if (span.isRecording()) recordReply(span, error);
    span.end();
  }
}
