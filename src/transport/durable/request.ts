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
   * The request's `Nats-Msg-Id`. The workers apply each id at most once, and
   * answer a request sent again with the same id (a retry after a timeout)
   * with the outcome recorded the first time. Default: a fresh NUID.
   */
  readonly msgId?: string;
  /** How long to wait for the reply, redeliveries included. Default 30 s. */
  readonly timeoutMs?: number;
  /** More request headers: raw mode, `Binding-Timeout` (per delivery), `traceparent`... */
  readonly headers?: MsgHdrs | Readonly<Record<string, string>>;
  /**
   * Where the reply goes; default a fresh inbox. When the stream drops the
   * publish as a duplicate of one still in its window, the reply goes to the
   * first publish's subject: given one, the wait is for it there; without
   * one, the request is published again until the stream stores it.
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
/** How often a publish the stream took for a duplicate is tried again (its window is 10 s). */
const REPUBLISH_INTERVAL_MS = 1_000;

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

  const giveUpAt = Date.now() + timeoutMs;
  const subscription = nc.subscribe(replyTo, { max: 1 });
  const timer = setTimeout(() => subscription.unsubscribe(), timeoutMs);
  try {
    const js = options.js ?? jetstream(nc);
    let ack = await js.publish(subject, payload, { msgID: msgId, headers });
    // A duplicate within the stream's window is dropped, and the first
    // publish's reply subject is not ours: publish again until the stream
    // stores ours. A worker then applies nothing twice; it answers with the
    // outcome recorded for this id (or applies it, if the first never was).
    while (ack.duplicate && options.replyTo === undefined) {
      const wait = Math.min(REPUBLISH_INTERVAL_MS, giveUpAt - Date.now());
      if (wait <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, wait));
      ack = await js.publish(subject, payload, { msgID: msgId, headers });
    }
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
