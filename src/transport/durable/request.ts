import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  nuid,
  type Payload,
} from "@nats-io/transport-node";
import { MSG_ID_HEADER, REPLY_TO_HEADER } from "./names.js";

export interface DurableRequestOptions {
  /**
   * The request's `Nats-Msg-Id`. Sending the same id again (a retry after a
   * lost publish acknowledgement) is de-duplicated by the stream within its
   * window (2 min) and applied at most once by the workers after that.
   * Default: a fresh NUID.
   */
  readonly msgId?: string;
  /** How long to wait for the reply, redeliveries included. Default 30 s. */
  readonly timeoutMs?: number;
  /** More request headers: raw mode, `Binding-Timeout` (per delivery), `traceparent`... */
  readonly headers?: MsgHdrs | Readonly<Record<string, string>>;
  /**
   * Where the reply goes; default a fresh inbox. A caller retrying with the
   * same `msgId` should pass the first attempt's: a de-duplicated publish
   * keeps the first message, and with it the first reply subject.
   */
  readonly replyTo?: string;
  /** Prefix for the default inbox, when the account only allows a custom one. */
  readonly inboxPrefix?: string;
  /** A JetStream client to publish with; default `jetstream(nc)`. */
  readonly js?: JetStreamClient;
}

/** No reply in time. The request is stored and may still be carried out: retry with `msgId`. */
export class DurableRequestTimeoutError extends Error {
  override readonly name = "DurableRequestTimeoutError";
  constructor(
    readonly msgId: string,
    readonly timeoutMs: number,
  ) {
    super(`no reply to durable request ${msgId} within ${timeoutMs}ms`);
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Sends a request to a durable subject (`<prefix>.durable.<binding>`) through
 * JetStream and waits for its reply, which is exactly the reply of the direct
 * subject (PROTOCOL section 5): check `Nats-Service-Error-Code` for errors.
 *
 * The subscription is made before publishing, so a fast reply is never
 * missed. Rejects when JetStream refuses the publish (no stream captures the
 * subject) or with DurableRequestTimeoutError.
 */
export async function durableRequest(
  nc: NatsConnection,
  subject: string,
  payload: Payload,
  options: DurableRequestOptions = {},
): Promise<Msg> {
  const msgId = options.msgId ?? nuid.next();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const replyTo = options.replyTo ?? createInbox(options.inboxPrefix);
  const headers = natsHeaders();
  if (options.headers !== undefined) copyHeaders(options.headers, headers);
  headers.set(REPLY_TO_HEADER, replyTo);
  headers.set(MSG_ID_HEADER, msgId);

  const subscription = nc.subscribe(replyTo, { max: 1 });
  const timer = setTimeout(() => subscription.unsubscribe(), timeoutMs);
  try {
    const js = options.js ?? jetstream(nc);
    await js.publish(subject, payload, { msgID: msgId, headers });
    for await (const reply of subscription) return reply;
    throw new DurableRequestTimeoutError(msgId, timeoutMs);
  } finally {
    clearTimeout(timer);
    subscription.unsubscribe();
  }
}

function copyHeaders(from: MsgHdrs | Readonly<Record<string, string>>, to: MsgHdrs): void {
  if (isMsgHdrs(from)) {
    for (const name of from.keys()) for (const value of from.values(name)) to.append(name, value);
  } else {
    for (const [name, value] of Object.entries(from)) to.set(name, value);
  }
}

function isMsgHdrs(value: MsgHdrs | Readonly<Record<string, string>>): value is MsgHdrs {
  return (
    typeof (value as MsgHdrs).keys === "function" && typeof (value as MsgHdrs).values === "function"
  );
}
