/**
 * The seam to durable requests (PROTOCOL section 6). Publishing through
 * JetStream with `Nats-Msg-Id` and `Binding-Reply-To`, and waiting for the
 * final reply, is the durable intake's own helper (`durableRequest`); the
 * client only hands it an encoded request. The helper is imported on first
 * use, so callers who never ask for durability never load JetStream.
 */
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/transport-node";

export interface DurableSendOptions {
  readonly headers: MsgHdrs;
  /** How long to wait for the final reply, redeliveries included, in milliseconds. */
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

let loaded: Promise<DurableSend> | undefined;

export function loadDurableSend(): Promise<DurableSend> {
  loaded ??= import("../transport/durable/request.js").then(
    ({ durableRequest }): DurableSend =>
      (nc, subject, payload, options) =>
        durableRequest(nc, subject, payload, {
          headers: options.headers,
          timeoutMs: options.timeoutMs,
          ...(options.msgId !== undefined ? { msgId: options.msgId } : {}),
        }),
  );
  return loaded;
}
