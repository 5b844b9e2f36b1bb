import type { Consumer, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Invocation } from "../../binding/invocation.js";
import type { Outcome } from "../../binding/operations.js";
import { toInvocation } from "../../binding/request.js";
import {
  BindingError,
  InvokeOutputBindingError,
  MalformedRequestError,
  PayloadTooLargeError,
} from "../../errors.js";
import {
  type DeliveryScope,
  type DurableInstrumentation,
  NO_DURABLE_INSTRUMENTATION,
} from "../../telemetry/instrumentation.js";
import { deadlineAfter, requestBudgetMs, withDeadline } from "../deadline.js";
import type { InFlightGate } from "../in-flight.js";
import { encodeError, encodeOutcome, type Reply } from "../reply-codec.js";
import { decodeRequest, type WireMode } from "../request-codec.js";
import type { DeadLetterPublisher } from "./dead-letter.js";
import { isPublishableSubject, MSG_ID_HEADER, REPLY_TO_HEADER } from "./names.js";
import type { DurableAction, DurableObserver } from "./observer.js";
import { type DeliveryPlan, decide } from "./plan.js";
import { crashNow, type TestHooks } from "./test-hooks.js";

/** An outcome, and whether an earlier delivery had already applied it. */
export interface OnceResult {
  readonly outcome: Outcome;
  readonly replayed: boolean;
}

/** Applies an invocation at most once per request id; the worker wires it to Redis. */
/** `deadline`: when the delivery's caller stops waiting (transport/deadline.ts); retries end there. */
export type OnceRunner = (
  invocation: Invocation,
  requestId: string,
  deadline?: number,
) => Promise<OnceResult>;

export interface DurableIntakeConfig {
  readonly bindingName: string;
  readonly stream: string;
  readonly consumer: string;
  readonly deadLetterSubject: string;
  readonly plan: DeliveryPlan;
  /**
   * Stands in for `Nats-Msg-Id` when a request has none, with the stream
   * sequence: the stream's creation time, so a re-created stream's sequence
   * numbers never meet an old record.
   */
  readonly streamEpoch: string;
  readonly maxRequestBytes: number;
  readonly requestTimeoutMs: number;
}

export interface DurableIntakeDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly deadLetters: DeadLetterPublisher;
  readonly run: OnceRunner;
  readonly gate: InFlightGate;
  readonly observer: DurableObserver;
  readonly hooks: TestHooks;
  readonly log: Logger;
  /** Re-creates the stream and consumer after they went missing. */
  readonly reensure: () => Promise<void>;
  /**
   * A span per delivery; `run` is its runner() already, so Redis calls join
   * the delivery's span. None when omitted.
   */
  readonly instrumentation?: DurableInstrumentation;
}

/** Most messages asked for in one pull; never more than the gate has room for. */
const BATCH = 128;
/** How long one pull waits for messages; also bounds how long stop() waits. */
const PULL_EXPIRES_MS = 2_000;
const SLOT_POLL_MS = 5;
const PAUSE_AFTER_ERROR_MS = 1_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One binding's durable intake: pulls requests from the binding's JetStream
 * consumer, runs each at most once, answers the final outcome on
 * `Binding-Reply-To`, then settles the message (ack, nak with delay, term).
 *
 * Pulls ask for no more messages than the worker-wide in-flight gate has room
 * for, so durable and direct requests share one cap; a message that finds
 * the gate full after all (direct requests took the room) waits for a slot,
 * kept alive with progress acks like every message this worker holds.
 */
export class DurableIntake {
  private stopping = false;
  private loopDone: Promise<void> | undefined;
  /**
   * Taken and not yet settled, each with its delivery's trace scope;
   * progress-acked so only a silent worker loses them.
   */
  private readonly held = new Map<JsMsg, DeliveryScope>();
  private heartbeat: NodeJS.Timeout | undefined;
  private lastProblem = "";

  constructor(
    readonly config: DurableIntakeConfig,
    private readonly deps: DurableIntakeDeps,
  ) {}

  /** True while the pull loop runs and has not been told to stop. */
  get pulling(): boolean {
    return this.loopDone !== undefined && !this.stopping;
  }

  get holding(): number {
    return this.held.size;
  }

  start(): void {
    if (this.loopDone !== undefined || this.stopping) return;
    const every = Math.max(100, Math.floor(this.config.plan.ackWaitMs / 3));
    this.heartbeat = setInterval(() => this.progress(), every);
    this.heartbeat.unref();
    this.loopDone = this.loop();
    this.deps.log.info(
      { stream: this.config.stream, consumer: this.config.consumer },
      "durable intake pulling",
    );
  }

  /**
   * Stops pulling. Resolves once the open pull has ended (at most
   * PULL_EXPIRES_MS); messages it still brings are handed back (nak) rather
   * than started, except on their last delivery, where handing back would
   * condemn them. Requests already running go on; the worker awaits them
   * through the in-flight gate.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loopDone;
    if (this.held.size === 0) this.stopHeartbeat();
  }

  /** The grace period is over: hand back whatever is still held so another worker takes it now. */
  releaseHeld(): void {
    for (const [msg, scope] of [...this.held]) this.release(msg, process.hrtime.bigint(), scope);
    this.stopHeartbeat();
  }

  private async loop(): Promise<void> {
    let consumer: Consumer | undefined;
    while (!this.stopping) {
      try {
        const room = Math.min(BATCH, this.deps.gate.limit - this.deps.gate.size);
        if (room <= 0) {
          await sleep(SLOT_POLL_MS);
          continue;
        }
        consumer ??= await this.deps.js.consumers.get(this.config.stream, this.config.consumer);
        const messages = await consumer.fetch({ max_messages: room, expires: PULL_EXPIRES_MS });
        for await (const msg of messages) await this.take(msg);
        this.problem(undefined);
      } catch (error) {
        consumer = undefined;
        this.problem(error);
        if (this.stopping) break;
        await sleep(PAUSE_AFTER_ERROR_MS);
        await this.deps.reensure().catch((reason: unknown) => this.problem(reason));
      }
    }
  }

  /** Logs a pull problem once, not once a second while it lasts. */
  private problem(error: unknown): void {
    const text = error === undefined ? "" : error instanceof Error ? error.message : String(error);
    if (text === this.lastProblem) return;
    if (text === "") this.deps.log.info("durable intake pulling again");
    else this.deps.log.warn({ cause: text }, "durable intake cannot pull; retrying");
    this.lastProblem = text;
  }

  private async take(msg: JsMsg): Promise<void> {
    const takenAt = process.hrtime.bigint();
    const scope = this.traceDelivery(msg);
    this.held.set(msg, scope);
    const lastChance = msg.info.deliveryCount >= this.config.plan.maxDeliver;
    for (;;) {
      // Handed back by releaseHeld() while it waited for a slot.
      if (!this.held.has(msg)) return;
      if (this.stopping && !lastChance) {
        this.release(msg, takenAt, scope);
        return;
      }
      if (this.deps.gate.tryAcquire()) break;
      await sleep(SLOT_POLL_MS);
    }
    // In the delivery's trace context from here on, awaited or not: its Redis
    // calls and log lines join its span.
    void scope
      .run(() => this.process(msg, takenAt, scope))
      .finally(() => {
        this.deps.gate.release();
        this.held.delete(msg);
        if (this.stopping && this.held.size === 0) this.stopHeartbeat();
      });
  }

  /** Starts the delivery's span, under the trace context its request was published with. */
  private traceDelivery(msg: JsMsg): DeliveryScope {
    const instrumentation = this.deps.instrumentation ?? NO_DURABLE_INSTRUMENTATION;
    const headers = headersOf(msg);
    const messageId = headers?.get(MSG_ID_HEADER);
    return instrumentation.begin(headers, msg.data.length, {
      subject: msg.subject,
      deliveryCount: msg.info.deliveryCount,
      messageId: messageId !== undefined && messageId !== "" ? messageId : undefined,
      streamSequence: msg.seq,
    });
  }

  private async process(msg: JsMsg, takenAt: bigint, scope: DeliveryScope): Promise<void> {
    const { bindingName, maxRequestBytes, requestTimeoutMs } = this.config;
    let mode: WireMode = "json";
    let result: OnceResult | BindingError;
    try {
      if (msg.data.length > maxRequestBytes) {
        throw new PayloadTooLargeError(
          `request of ${msg.data.length} bytes is above the limit of ${maxRequestBytes}`,
        );
      }
      // A header block the client cannot parse throws on every read of
      // msg.headers; the stream keeps the message, so each worker that took it
      // would crash (headersOf below). It is a malformed request instead.
      if (headersUnreadable(msg)) throw new MalformedRequestError("request headers are malformed");
      const decoded = decodeRequest(msg.data, msg.headers);
      mode = decoded.mode;
      const invocation = toInvocation(decoded.envelope);
      scope.decoded(invocation.operation);
      const budgetMs = requestBudgetMs(msg.headers?.get("Binding-Timeout"), requestTimeoutMs);
      result = await withDeadline(
        this.deps.run(invocation, this.requestId(msg), deadlineAfter(budgetMs)),
        budgetMs,
        bindingName,
      );
    } catch (error) {
      result =
        error instanceof BindingError ? error : new InvokeOutputBindingError(bindingName, error);
    }
    if (this.deps.hooks.crashAfterApply && !(result instanceof BindingError) && !result.replayed) {
      crashNow();
    }
    await this.settle(msg, result, mode, takenAt, scope);
  }

  private requestId(msg: JsMsg): string {
    const id = headersOf(msg)?.get(MSG_ID_HEADER);
    return id !== undefined && id !== "" ? id : `${this.config.streamEpoch}:${msg.seq}`;
  }

  private async settle(
    msg: JsMsg,
    result: OnceResult | BindingError,
    mode: WireMode,
    takenAt: bigint,
    scope: DeliveryScope,
  ): Promise<void> {
    // Handed back after the grace period (its span ended there): its next delivery answers.
    if (!this.held.has(msg)) return;
    const error = result instanceof BindingError ? result : undefined;
    const deliveryCount = msg.info.deliveryCount;
    const decision = decide(error, deliveryCount, this.config.plan);
    const action: DurableAction = decision.action;
    switch (decision.action) {
      case "retry":
        settleWith(() => msg.nak(decision.delayMs));
        break;
      case "ack":
        this.reply(msg, result, mode);
        settleWith(() => msg.ack());
        break;
      case "term":
        this.reply(msg, result, mode);
        settleWith(() => msg.term());
        break;
      case "dead-letter":
        this.reply(msg, result, mode);
        await this.deadLetter(msg, error as BindingError);
        settleWith(() => msg.term());
        break;
    }
    this.logDecision(action, deliveryCount, error, result);
    const replayed = !(result instanceof BindingError) && result.replayed;
    this.deps.observer.deliveryHandled({
      binding: this.config.bindingName,
      action,
      deliveryCount,
      replayed,
      durationNs: Number(process.hrtime.bigint() - takenAt),
      error,
    });
    scope.settled(
      decision.action === "retry"
        ? { action, error, replayed, retryDelayMs: decision.delayMs }
        : { action, error, replayed },
    );
  }

  private reply(msg: JsMsg, result: OnceResult | BindingError, mode: WireMode): void {
    const replyTo = headersOf(msg)?.get(REPLY_TO_HEADER);
    if (replyTo === undefined || replyTo === "") return;
    if (!isPublishableSubject(replyTo)) {
      this.deps.log.warn(
        { replyTo: replyTo.slice(0, 200) },
        "durable request names a reply subject that cannot be published to; not answered",
      );
      return;
    }
    const reply = encodeReply(result, mode, this.config.bindingName);
    try {
      this.deps.nc.publish(
        replyTo,
        reply.payload,
        reply.headers ? { headers: reply.headers } : undefined,
      );
    } catch (error) {
      // The connection is closing; the request is not acknowledged either,
      // so its next delivery answers.
      this.deps.log.warn({ err: error }, "could not send durable reply");
    }
  }

  private async deadLetter(msg: JsMsg, error: BindingError): Promise<void> {
    const fate = await this.deps.deadLetters.publish({
      subject: this.config.deadLetterSubject,
      requestSubject: msg.subject,
      streamSequence: msg.seq,
      deliveries: msg.info.deliveryCount,
      data: msg.data,
      headers: headersOf(msg),
      error,
    });
    if (fate === "lost") this.deps.log.error("could not publish a dead letter");
  }

  private release(msg: JsMsg, takenAt: bigint, scope: DeliveryScope): void {
    this.held.delete(msg);
    settleWith(() => msg.nak());
    scope.settled({ action: "release", error: undefined, replayed: false });
    this.deps.observer.deliveryHandled({
      binding: this.config.bindingName,
      action: "release",
      deliveryCount: msg.info.deliveryCount,
      replayed: false,
      durationNs: Number(process.hrtime.bigint() - takenAt),
      error: undefined,
    });
  }

  private progress(): void {
    for (const msg of this.held.keys()) settleWith(() => msg.working());
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private logDecision(
    action: DurableAction,
    deliveryCount: number,
    error: BindingError | undefined,
    result: OnceResult | BindingError,
  ): void {
    const log = this.deps.log;
    if (error === undefined) {
      if (!(result instanceof BindingError) && result.replayed) {
        log.info({ deliveryCount }, "durable request was applied by an earlier delivery; replayed");
      }
      return;
    }
    const fields = {
      deliveryCount,
      code: error.status,
      errorCode: error.code,
      cause: error.message,
    };
    switch (action) {
      case "retry":
        log.warn(
          { ...fields, delayMs: this.config.plan.redeliverIntervalMs },
          "durable request failed; delivering again later",
        );
        break;
      case "dead-letter":
        log.error(fields, "durable request failed on its last delivery; dead-lettered");
        break;
      default:
        if (error.status >= 500) log.error(fields, "durable request failed");
        else log.debug(fields, "durable request rejected");
    }
  }
}

function encodeReply(
  result: OnceResult | BindingError,
  mode: WireMode,
  bindingName: string,
): Reply {
  try {
    return result instanceof BindingError
      ? encodeError(result)
      : encodeOutcome(result.outcome, mode);
  } catch (error) {
    return encodeError(new InvokeOutputBindingError(bindingName, error));
  }
}

/** ack/nak/term/working publish on the connection; a closing one refuses, and the server redelivers. */
function settleWith(send: () => void): void {
  try {
    send();
  } catch {
    // Nothing to do: without our answer the message is delivered again.
  }
}

/** The message's headers; undefined when its header block cannot be parsed. */
function headersOf(msg: JsMsg): MsgHdrs | undefined {
  try {
    return msg.headers;
  } catch {
    return undefined;
  }
}

function headersUnreadable(msg: JsMsg): boolean {
  try {
    void msg.headers;
    return false;
  } catch {
    return true;
  }
}
