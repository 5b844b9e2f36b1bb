import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
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

/** How long to trust what we learnt about a dead-letter subject being captured by a stream. */
const CAPTURE_CHECK_TTL_MS = 30_000;

/**
 * Where a stream captures the dead-letter subject, letters go through
 * JetStream and are stored for sure (their `Nats-Msg-Id` then also
 * de-duplicates a letter sent twice); otherwise they are core publishes,
 * seen by whoever listens at that moment.
 *
 * Whether a stream captures the subject is asked, not guessed from a
 * JetStream publish failing: with a plain subscriber on the subject that
 * publish would not fail fast ("no responders") but wait for its timeout.
 */
export class DeadLetterPublisher {
  private readonly js: JetStreamClient;
  private readonly captured = new Map<
    string,
    { readonly stored: boolean; readonly until: number }
  >();

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
  ) {
    this.js = jsm.jetstream();
  }

  async publish(letter: DeadLetter): Promise<DeadLetterFate> {
    const headers = deadLetterHeaders(letter);
    if (await this.isCaptured(letter.subject)) {
      try {
        await this.js.publish(letter.subject, letter.data, { headers });
        return "stored";
      } catch {
        // The stream refused it (limits, no quorum): a core publish is better than nothing.
      }
    }
    try {
      this.nc.publish(letter.subject, letter.data, { headers });
      return "published";
    } catch {
      return "lost";
    }
  }

  private async isCaptured(subject: string): Promise<boolean> {
    const known = this.captured.get(subject);
    if (known !== undefined && known.until > Date.now()) return known.stored;
    let stored: boolean;
    try {
      await this.jsm.streams.find(subject);
      stored = true;
    } catch {
      stored = false;
    }
    this.captured.set(subject, { stored, until: Date.now() + CAPTURE_CHECK_TTL_MS });
    return stored;
  }
}
