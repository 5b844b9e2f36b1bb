/**
 * The seam to durable requests (PROTOCOL section 6). Publishing through
 * JetStream, de-duplication and waiting for the final reply belong to the
 * durable intake's own helper; the client only hands it an encoded request.
 * It is loaded on first use so that callers who never ask for durability
 * never load JetStream.
 */
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/transport-node";

export interface DurableSendOptions {
  readonly headers: MsgHdrs;
  /** How long to wait for the final reply, in milliseconds. */
  readonly timeoutMs: number;
  /** `Nats-Msg-Id` for de-duplication; the helper makes one up when absent. */
  readonly msgId?: string;
}

/** Sends one encoded request to `<prefix>.durable.<binding>` and resolves with the final reply. */
export type DurableSend = (
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array,
  options: DurableSendOptions,
) => Promise<Msg>;

/** Thrown while the durable intake's helper does not exist yet. */
export class DurableNotAvailableError extends Error {
  constructor() {
    super(
      "durable requests are not available in this build yet: the JetStream intake's client " +
        "helper (durableRequest) has not landed; send the request without durable",
    );
    this.name = "DurableNotAvailableError";
  }
}

/** The durable intake's helper, once it exists; until then every durable request fails clearly. */
export async function loadDurableSend(): Promise<DurableSend> {
  throw new DurableNotAvailableError();
}
