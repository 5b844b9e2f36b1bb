import type { JetStreamManager } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { BindingTimeoutError } from "../../errors.js";
import { encodeError } from "../reply-codec.js";
import type { DeadLetterPublisher } from "./dead-letter.js";
import {
  bindingOfSubject,
  deadLetterSubject,
  isPublishableSubject,
  REPLY_TO_HEADER,
} from "./names.js";
import type { DurableObserver } from "./observer.js";

/**
 * A request whose last allowed delivery is never acknowledged (the worker
 * holding it died) is not delivered again, and no worker is left to answer
 * it. The server says so with a MAX_DELIVERIES advisory; one worker (a queue
 * group) takes each advisory and does what the dying worker would have done
 * on a final failure: reply 504 to the caller, publish the dead letter, and
 * remove the message (a work-queue stream on nats-server 2.9 would otherwise
 * keep it for ever).
 */
export interface AbandonedWatcherOptions {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly deadLetters: DeadLetterPublisher;
  readonly stream: string;
  readonly prefix: string;
  readonly queueGroup: string;
  readonly observer: DurableObserver;
  readonly log: Logger;
}

interface MaxDeliveriesAdvisory {
  readonly stream?: string;
  readonly consumer?: string;
  readonly stream_seq?: number;
  readonly deliveries?: number;
}

export function advisorySubject(stream: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.*`;
}

export class AbandonedWatcher {
  private readonly subscription: Subscription;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: AbandonedWatcherOptions) {
    this.subscription = options.nc.subscribe(advisorySubject(options.stream), {
      queue: options.queueGroup,
      callback: (error, msg) => {
        if (error) {
          options.log.warn({ err: error }, "cannot watch for abandoned durable requests");
          return;
        }
        const work = this.handle(msg).catch((reason: unknown) =>
          options.log.warn({ err: reason }, "could not dead-letter an abandoned durable request"),
        );
        this.pending.add(work);
        void work.finally(() => this.pending.delete(work));
      },
    });
  }

  async stop(): Promise<void> {
    if (!this.subscription.isClosed()) await this.subscription.drain().catch(() => {});
    await Promise.allSettled([...this.pending]);
  }

  private async handle(msg: Msg): Promise<void> {
    const { jsm, deadLetters, nc, stream, prefix, log, observer } = this.options;
    const advisory = msg.json<MaxDeliveriesAdvisory>();
    const seq = advisory.stream_seq;
    if (advisory.stream !== stream || typeof seq !== "number") return;
    const stored = await jsm.streams.getMessage(stream, { seq });
    // Gone already: acknowledged late, or another watcher got there first.
    if (stored === null) return;
    const binding = bindingOfSubject(stored.subject);
    const deliveries = advisory.deliveries ?? 0;
    const error = new BindingTimeoutError(
      `durable request to binding ${binding} was not finished by any of its ${deliveries} deliveries ` +
        "within processingTimeout; its effect may or may not have been applied",
    );
    const headers = stored.header.keys().length > 0 ? stored.header : undefined;
    const replyTo = headers?.get(REPLY_TO_HEADER);
    if (replyTo !== undefined && isPublishableSubject(replyTo)) {
      const reply = encodeError(error);
      try {
        nc.publish(replyTo, reply.payload, reply.headers ? { headers: reply.headers } : undefined);
      } catch {
        // Closing: nobody else will answer either; the dead letter still records it.
      }
    }
    await deadLetters.publish({
      subject: deadLetterSubject(prefix, binding),
      requestSubject: stored.subject,
      streamSequence: seq,
      deliveries,
      data: stored.data,
      headers,
      error,
    });
    await jsm.streams.deleteMessage(stream, seq).catch(() => false);
    log.warn(
      { binding, streamSequence: seq, deliveries },
      "durable request abandoned on its last delivery; dead-lettered",
    );
    observer.deliveryHandled({
      binding,
      action: "abandoned",
      deliveryCount: deliveries,
      replayed: false,
      durationNs: 0,
      error,
    });
  }
}
