/**
 * The request and reply formats of PROTOCOL sections 3 and 5, from the
 * caller's side. Pure functions over bytes and headers, no connection.
 */
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import { BadReplyError, type BindingError, errorFromReply } from "./errors.js";

/** One request as the client sends it. */
export interface WireRequest {
  readonly operation: string;
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * JSON mode: the `data` field (omitted when undefined).
   * Raw mode: the payload bytes.
   */
  readonly value?: unknown;
  /** Raw mode: operation and metadata travel in headers, the payload is `value` as bytes. */
  readonly raw: boolean;
}

export interface EncodedRequest {
  readonly payload: Uint8Array;
  readonly headers: MsgHdrs;
}

export const RAW_CONTENT_TYPE = "application/octet-stream";
const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** The request's bytes and headers; `timeoutMs` becomes the worker's deadline (`Binding-Timeout`). */
export function encodeRequest(request: WireRequest, timeoutMs: number): EncodedRequest {
  const headers = natsHeaders();
  headers.set("Binding-Timeout", `${timeoutMs}ms`);
  if (!request.raw) {
    const body: Record<string, unknown> = {
      operation: request.operation,
      metadata: request.metadata,
    };
    if (request.value !== undefined) body.data = request.value;
    return { payload: encoder.encode(JSON.stringify(body)), headers };
  }
  headers.set("Content-Type", RAW_CONTENT_TYPE);
  headers.set("operation", request.operation);
  for (const [key, value] of Object.entries(request.metadata)) {
    headers.set(`metadata.${key}`, value);
  }
  return { payload: rawPayload(request.value), headers };
}

function rawPayload(value: unknown): Uint8Array {
  if (value === undefined) return EMPTY;
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  throw new TypeError("a raw request's value must be a Uint8Array or a string");
}

/** What a reply needs to be read; a NATS `Msg` has it. */
export interface ReplyMessage {
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs | undefined;
}

/** The reply's payload on success; the matching {@link BindingError} when the worker answered with one. */
export function replyPayload(binding: string, reply: ReplyMessage): Uint8Array {
  const status = reply.headers?.get("Nats-Service-Error-Code") ?? "";
  if (status === "") return reply.data;
  let body: { errorCode?: unknown; message?: unknown } | undefined;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(reply.data));
    if (parsed !== null && typeof parsed === "object") body = parsed;
  } catch {
    body = undefined;
  }
  throw errorFromReply(
    binding,
    Number(status),
    body,
    reply.headers?.get("Nats-Service-Error") ?? "",
  );
}

/** A JSON-mode `get` reply: `{"data": ...}`, with base64 for bytes that are not text. */
export function decodeGetReply(binding: string, payload: Uint8Array): unknown {
  if (payload.length === 0) return undefined;
  const reply = parseObject(binding, payload);
  const metadata = reply.metadata as { dataEncoding?: unknown } | undefined;
  if (metadata?.dataEncoding === "base64" && typeof reply.data === "string") {
    return new Uint8Array(Buffer.from(reply.data, "base64"));
  }
  return reply.data;
}

/** An `increment` reply: `{"data": n}` in JSON mode (a string past 2^53), decimal text in raw mode. */
export function decodeCounter(binding: string, payload: Uint8Array, raw: boolean): number | bigint {
  const value = raw ? new TextDecoder().decode(payload).trim() : parseObject(binding, payload).data;
  const text = typeof value === "number" ? String(value) : value;
  if (typeof text !== "string" || !/^-?\d+$/.test(text)) {
    throw badReply(binding, `increment reply is not an integer: ${JSON.stringify(value)}`);
  }
  const big = BigInt(text);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(big)
    : big;
}

function parseObject(binding: string, payload: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(payload));
  } catch (error) {
    throw badReply(binding, `reply is not JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw badReply(binding, "reply is not a JSON object");
  }
  return parsed as Record<string, unknown>;
}

function badReply(binding: string, message: string): BindingError {
  return new BadReplyError(message, { binding });
}
