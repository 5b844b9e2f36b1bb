import type { Msg } from "@nats-io/transport-node";
import type { InFlightGate } from "./in-flight.js";
import type { Reply } from "./reply-codec.js";

/**
 * Replies wait here until the end of the current event-loop turn and then go
 * out together. The NATS client writes its buffer to the socket once per
 * microtask burst, and replies finishing in the same turn would otherwise
 * arrive in several bursts (each promise chain takes its own number of hops):
 * a write syscall per reply was the largest single cost in the profile.
 *
 * A request's in-flight slot is released only once its reply has been handed
 * to the client, so a draining worker that waits for the gate to empty never
 * closes NATS with a reply still queued here.
 */
export class ReplyQueue {
  private msgs: Msg[] = [];
  private replies: Reply[] = [];
  private held: boolean[] = [];
  private scheduled = false;

  constructor(
    private readonly gate: InFlightGate,
    private readonly onSendError: (error: unknown) => void,
  ) {}

  /** `heldSlot`: the request holds an in-flight slot, freed once the reply is sent. */
  push(msg: Msg, reply: Reply, heldSlot: boolean): void {
    this.msgs.push(msg);
    this.replies.push(reply);
    this.held.push(heldSlot);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Sends everything queued; safe to call at any time. */
  readonly flush = (): void => {
    this.scheduled = false;
    const { msgs, replies, held } = this;
    this.msgs = [];
    this.replies = [];
    this.held = [];
    for (let i = 0; i < msgs.length; i++) {
      const msg = msgs[i] as Msg;
      const reply = replies[i] as Reply;
      if (msg.reply) {
        try {
          msg.respond(reply.payload, reply.headers ? { headers: reply.headers } : undefined);
        } catch (error) {
          // The connection is closing; nothing more can reach this caller.
          this.onSendError(error);
        }
      }
      if (held[i]) this.gate.release();
    }
  };
}
