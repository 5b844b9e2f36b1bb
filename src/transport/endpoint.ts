import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Invocation, Operation } from "../binding/invocation.js";
import type { Outcome } from "../binding/operations.js";
import { toInvocation } from "../binding/request.js";
import {
  BindingError,
  BindingUnavailableError,
  InvokeOutputBindingError,
  MalformedRequestError,
  PayloadTooLargeError,
} from "../errors.js";
import {
  NO_INSTRUMENTATION,
  type RequestInstrumentation,
  type RequestScope,
} from "../telemetry/instrumentation.js";
import { deadlineAfter, requestBudgetMs, withDeadline } from "./deadline.js";
import type { InFlightGate } from "./in-flight.js";
import { encodeError, encodeOutcome, type Reply } from "./reply-codec.js";
import { ReplyQueue } from "./reply-queue.js";
import { isSafeReplySubject } from "./reply-subject.js";
import { decodeRequest, type WireMode } from "./request-codec.js";

/**
 * Runs a validated invocation; the worker wires this to the binding's Redis.
 * `deadline` (transport/deadline.ts `deadlineAfter`) is when the caller stops
 * waiting: Redis retries end there rather than go on after the 504.
 */
export type InvocationRunner = (
  invocation: Invocation,
  deadline: number | undefined,
) => Promise<Outcome>;

/** Told about every answered request (discovery stats, later metrics). */
export interface EndpointObserver {
  requestFinished(durationNs: number, error: BindingError | undefined): void;
}

export interface EndpointLimits {
  readonly maxRequestBytes: number;
  readonly requestTimeoutMs: number;
}

export interface EndpointConfig {
  readonly bindingName: string;
  readonly subject: string;
  readonly queueGroup: string;
}

/**
 * One binding's NATS side: a queue-group subscription whose callback starts
 * each request without awaiting it (an awaited loop would serialise the
 * binding), bounded by the worker-wide in-flight gate.
 */
export class BindingEndpoint {
  private subscription: Subscription | undefined;
  private readonly replies: ReplyQueue;

  constructor(
    private readonly nc: NatsConnection,
    readonly config: EndpointConfig,
    private readonly run: InvocationRunner,
    private readonly limits: EndpointLimits,
    private readonly gate: InFlightGate,
    private readonly observer: EndpointObserver,
    private readonly log: Logger,
    /** Traces and metrics; telemetry stays behind this interface. */
    private readonly instrumentation: RequestInstrumentation = NO_INSTRUMENTATION,
  ) {
    this.replies = new ReplyQueue(gate, (error) =>
      log.warn({ err: error }, "could not send reply"),
    );
  }

  get subscribed(): boolean {
    return this.subscription !== undefined && !this.subscription.isClosed();
  }

  start(): void {
    if (this.subscription !== undefined) return;
    this.subscription = this.nc.subscribe(this.config.subject, {
      queue: this.config.queueGroup,
      callback: (error, msg) => {
        if (error) {
          this.log.error({ err: error }, "subscription failed");
          return;
        }
        try {
          this.accept(msg);
        } catch (thrown) {
          // Never let a throw reach the client library: it would stop reading.
          this.log.error({ err: thrown }, "request handling threw");
        }
      },
    });
  }

  /** Stops taking new requests; those already delivered to us are still served. */
  async stop(): Promise<void> {
    const subscription = this.subscription;
    if (subscription === undefined || subscription.isClosed()) return;
    await subscription.drain();
  }

  private accept(msg: Msg): void {
    const startedAt = process.hrtime.bigint();
    // A reply subject that is one of our request subjects or a `$` API would
    // have us act for the caller with our own rights (reply-subject.ts).
    const subjectPrefix = this.config.subject.slice(0, this.config.subject.lastIndexOf("."));
    if (msg.reply && !isSafeReplySubject(msg.reply, subjectPrefix)) {
      this.log.warn(
        { reply: msg.reply.slice(0, 200) },
        "request refused: its reply subject is a worker or system subject; not run, not answered",
      );
      return;
    }
    // A caller can send a header block the client cannot parse (a name with a
    // space, say): reading it throws, and a throw from this callback would end
    // the connection's reader, leaving the worker deaf. Answer 400 instead.
    let headers: Msg["headers"];
    try {
      headers = msg.headers;
    } catch (error) {
      const scope = this.instrumentation.begin(undefined, msg.data.length);
      const malformed = new MalformedRequestError(
        `request headers are malformed: ${(error as Error).message}`,
      );
      scope.run(() => this.answer(msg, malformed, "json", startedAt, scope));
      return;
    }
    const scope = this.instrumentation.begin(headers, msg.data.length);
    // Everything from here on, the un-awaited processing included, runs in
    // the request's trace context: Redis spans and log lines join it.
    scope.run(() => this.admit(msg, startedAt, scope));
  }

  private admit(msg: Msg, startedAt: bigint, scope: RequestScope): void {
    if (msg.data.length > this.limits.maxRequestBytes) {
      this.answer(
        msg,
        new PayloadTooLargeError(
          `request of ${msg.data.length} bytes is above the limit of ${this.limits.maxRequestBytes}`,
        ),
        "json",
        startedAt,
        scope,
      );
      return;
    }
    if (!this.gate.tryAcquire()) {
      this.answer(
        msg,
        new BindingUnavailableError(`worker overloaded: ${this.gate.limit} requests in flight`),
        "json",
        startedAt,
        scope,
      );
      return;
    }
    // The slot is freed when the reply goes out (ReplyQueue), not here.
    void this.process(msg, startedAt, scope);
  }

  private async process(msg: Msg, startedAt: bigint, scope: RequestScope): Promise<void> {
    let mode: WireMode = "json";
    let operation: Operation | undefined;
    let result: Outcome | BindingError;
    try {
      const decoded = decodeRequest(msg.data, msg.headers);
      mode = decoded.mode;
      const invocation = toInvocation(decoded.envelope);
      operation = invocation.operation;
      scope.decoded(operation);
      const budgetMs = requestBudgetMs(
        msg.headers?.get("Binding-Timeout"),
        this.limits.requestTimeoutMs,
      );
      // The retry deadline is taken before withDeadline arms its timer, so
      // no retry starts after the caller got its 504.
      result = await withDeadline(
        this.run(invocation, deadlineAfter(budgetMs)),
        budgetMs,
        this.config.bindingName,
      );
    } catch (error) {
      result =
        error instanceof BindingError
          ? error
          : new InvokeOutputBindingError(this.config.bindingName, error);
    }
    this.answer(msg, result, mode, startedAt, scope, operation, true);
  }

  private answer(
    msg: Msg,
    result: Outcome | BindingError,
    mode: WireMode,
    startedAt: bigint,
    scope: RequestScope,
    operation?: Operation,
    heldSlot = false,
  ): void {
    let failed = result instanceof BindingError ? result : undefined;
    let reply: Reply;
    try {
      reply = failed ? encodeError(failed) : encodeOutcome(result as Outcome, mode);
    } catch (error) {
      reply = encodeError(new InvokeOutputBindingError(this.config.bindingName, error));
    }
    // The client refuses to publish more than the server's max_payload, and
    // the caller would hear nothing: a stored value too big to return is an error.
    const maxPayload = this.nc.info?.max_payload;
    let size = reply.payload.length;
    if (reply.headers) {
      size += 12; // "NATS/1.0\r\n" ... "\r\n"
      for (const [name, values] of reply.headers) {
        for (const value of values) size += Buffer.byteLength(`${name}: ${value}\r\n`);
      }
    }
    if (maxPayload !== undefined && size > maxPayload) {
      failed = new InvokeOutputBindingError(
        this.config.bindingName,
        `reply of ${size} bytes is above the NATS max_payload of ${maxPayload} bytes`,
      );
      reply = encodeError(failed);
    }
    const durationNs = Number(process.hrtime.bigint() - startedAt);
    try {
      if (failed) {
        this.logFailure(failed, operation);
      } else if (this.log.isLevelEnabled("debug")) {
        this.log.debug({ operation, code: 200, durationMs: durationNs / 1e6 }, "request served");
      }
      scope.end(failed);
      this.observer.requestFinished(durationNs, failed);
    } finally {
      // Whatever the bookkeeping did, the caller gets its reply and the slot comes back.
      this.replies.push(msg, reply, heldSlot);
    }
  }

  private logFailure(error: BindingError, operation: Operation | undefined): void {
    const fields = { operation, code: error.status, errorCode: error.code, cause: error.message };
    if (error.status >= 500 && error.status !== 503 && error.status !== 504) {
      this.log.error(fields, "request failed");
    } else if (error.status >= 500) {
      this.log.warn(fields, "request failed");
    } else {
      this.log.debug(fields, "request rejected");
    }
  }
}
