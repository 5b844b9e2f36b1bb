/**
 * The durable caller for the load generator: each request is published
 * through JetStream to `<prefix>.durable.<name>` with its reply subject in
 * `Binding-Reply-To` (JetStream keeps no reply subject), and is done once the
 * stream has acknowledged it and the worker's reply has arrived, as with
 * durableRequest (src/transport/durable/request.ts).
 *
 * Unlike durableRequest, one wildcard subscription (`<inbox>.>`) takes every
 * reply, each request waiting on its own `<inbox>.<n>`: a subscribe and an
 * unsubscribe per request would be the load generator's cost, not the
 * intake's.
 */
import { jetstream } from "@nats-io/jetstream";
import {
  createInbox,
  type Msg,
  type NatsConnection,
  headers as natsHeaders,
} from "@nats-io/transport-node";
import { REPLY_TO_HEADER } from "../src/transport/durable/names.js";
import { isErrorReply, REQUEST_TIMEOUT_MS, type Send } from "./load.js";

export interface DurableSender {
  readonly send: Send;
  close(): void;
}

export function durableSender(nc: NatsConnection, subject: string): DurableSender {
  const js = jetstream(nc);
  const inbox = createInbox();
  const waiting = new Map<string, (reply: Msg) => void>();
  const subscription = nc.subscribe(`${inbox}.>`, {
    callback: (error, msg) => {
      if (!error) waiting.get(msg.subject.slice(inbox.length + 1))?.(msg);
    },
  });
  let next = 0;

  const send: Send = async (payload) => {
    const id = String(next++);
    const replyTo = `${inbox}.${id}`;
    const headers = natsHeaders();
    headers.set(REPLY_TO_HEADER, replyTo);
    let timer: NodeJS.Timeout | undefined;
    // Waiting before publishing: a reply may come back before the stream's ack.
    const reply = new Promise<Msg>((resolve, reject) => {
      waiting.set(id, resolve);
      timer = setTimeout(
        () => reject(new Error(`no durable reply within ${REQUEST_TIMEOUT_MS}ms`)),
        REQUEST_TIMEOUT_MS,
      );
    });
    // A publish that fails or is slow to be acknowledged must not leave this rejection unheard.
    reply.catch(() => {});
    try {
      // The reply subject is unique per request, so it serves as the msg id
      // too: no publish is ever dropped as a duplicate.
      const ack = await js.publish(subject, payload, {
        msgID: replyTo,
        headers,
        timeout: REQUEST_TIMEOUT_MS,
      });
      // Not stored: nobody would answer it.
      if (ack.duplicate) return true;
      return isErrorReply((await reply).headers);
    } finally {
      clearTimeout(timer);
      waiting.delete(id);
    }
  };

  return { send, close: () => subscription.unsubscribe() };
}
