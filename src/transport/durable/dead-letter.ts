import type { JetStreamClient } from "@nats-io/jetstream";
import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import type { BindingError } from "../../errors.js";

/**
 * A request that ran out of deliveries is published, as it came (payload and
 * headers), to `<prefix>.deadletter.<name>` with these headers added, so an
 * operator (or a stream capturing the subject) can see why and resubmit it.
 */
export const DEAD_LETTER_HEADERS = Object.freeze({
  errorCode: "Binding-Last-Error-Code",
  error: "Binding-Last-Error",
  deliveries: "Binding-Deliveries",
  subject: "Binding-Subject",
  sequence: "Binding-Stream-Sequence",
});

export interface DeadLetter {
  readonly subject: string;
  readonly requestSubject: string;
  readonly streamSequence: number;
  readonly deliveries: number;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  readonly error: BindingError;
}

/**
 * Publish expectations would be checked against whatever stream captures the
 * dead-letter subject, and fail there: they are not carried over.
 */
const NOT_CARRIED = /^nats-expected-/i;

export function deadLetterHeaders(letter: DeadLetter): MsgHdrs {
  const out = natsHeaders();
  if (letter.headers !== undefined) {
    for (const name of letter.headers.keys()) {
      if (NOT_CARRIED.test(name)) continue;
      for (const value of letter.headers.values(name)) out.append(name, value);
    }
  }
  out.set(DEAD_LETTER_HEADERS.errorCode, String(letter.error.status));
  out.set(DEAD_LETTER_HEADERS.error, letter.error.message.replace(/[\r\n]+/g, " "));
  out.set(DEAD_LETTER_HEADERS.deliveries, String(letter.deliveries));
  out.set(DEAD_LETTER_HEADERS.subject, letter.requestSubject);
  out.set(DEAD_LETTER_HEADERS.sequence, String(letter.streamSequence));
  return out;
}

export type DeadLetterFate = "stored" | "published" | "lost";

/**
 * Where a stream captures the dead-letter subject, the letter is published
 * through JetStream and stored for sure (its `Nats-Msg-Id` then also
 * de-duplicates a letter sent twice); otherwise it is a core publish, seen by
 * whoever listens at that moment.
 */
export async function publishDeadLetter(
  nc: NatsConnection,
  js: JetStreamClient,
  letter: DeadLetter,
): Promise<DeadLetterFate> {
  const headers = deadLetterHeaders(letter);
  try {
    await js.publish(letter.subject, letter.data, { headers });
    return "stored";
  } catch {
    // No stream captures it (no responders), or JetStream is busy: fall back.
  }
  try {
    nc.publish(letter.subject, letter.data, { headers });
    return "published";
  } catch {
    return "lost";
  }
}
