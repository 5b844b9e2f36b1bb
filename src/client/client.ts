import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { loadDurableSend } from "./durable.js";
import { durationMs } from "./duration.js";
import { NoRespondersError, ReplyTimeoutError } from "./errors.js";
import {
  decodeCounter,
  decodeGetReply,
  encodeRequest,
  replyPayload,
  type WireRequest,
} from "./wire.js";

export interface BindingClientOptions {
  /** The workers' `BINDINGS_SUBJECT_PREFIX`; requests go to `<prefix>.<binding>`. Default `bindings`. */
  readonly subjectPrefix?: string;
  /** Default timeout of every call: milliseconds or a duration such as `"2s"`. Default 10s. */
  readonly timeout?: number | string;
}

export interface CallOptions {
  /**
   * How long this call may take: milliseconds or a duration (`"250ms"`). The
   * worker gets the same deadline (`Binding-Timeout`) and answers 504 when it
   * passes, so a slow Redis shows up as {@link BindingTimeoutError} rather
   * than a silent {@link ReplyTimeoutError}.
   */
  readonly timeout?: number | string;
  /** Send through JetStream so the request survives a worker's death (PROTOCOL section 6). */
  readonly durable?: boolean;
  /**
   * Durable only: the request's `Nats-Msg-Id`. A retry with the same id is
   * applied at most once and answered with the first outcome.
   */
  readonly msgId?: string;
}

export interface WriteOptions extends CallOptions {
  /** Expiry set atomically with the write: whole seconds, or a duration of at least `"1s"`. */
  readonly ttl?: number | string;
}

export interface CreateOptions extends WriteOptions {
  /**
   * Store the value's bytes as they are (raw mode) instead of its JSON text.
   * Implied when the value is a Uint8Array; with a string it stores the string
   * without JSON quotes.
   */
  readonly raw?: boolean;
}

export interface GetOptions extends CallOptions {
  /** Read and delete in one step (GETDEL). */
  readonly delete?: boolean;
  /** Return the stored bytes as they are instead of decoding `{"data": ...}`. */
  readonly raw?: boolean;
}

export type IncrementOptions = WriteOptions;

export interface InvokeOptions extends CallOptions {
  /** Raw mode: operation and metadata in headers, `value` (bytes or text) as the payload. */
  readonly raw?: boolean;
  /** JSON mode: the request's `data`. Raw mode: the payload. */
  readonly value?: unknown;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * The worker answers 504 when the deadline passes; the client waits this much
 * longer so that answer, not a bare timeout, is what the caller sees.
 */
const REPLY_MARGIN_MS = 250;

/**
 * Calls one binding (one Dapr component) over any NATS connection the caller
 * owns; the client never closes it.
 *
 * ```ts
 * const cache = new BindingClient(nc, "cache");
 * await cache.create("greeting", { hello: "world" }, { ttl: "1h" });
 * const value = await cache.get<{ hello: string }>("greeting");
 * ```
 */
export class BindingClient {
  readonly subject: string;
  readonly durableSubject: string;
  private readonly defaultTimeoutMs: number;

  constructor(
    private readonly nc: NatsConnection,
    readonly binding: string,
    options: BindingClientOptions = {},
  ) {
    checkBindingName(binding);
    const prefix = options.subjectPrefix ?? "bindings";
    this.subject = `${prefix}.${binding}`;
    this.durableSubject = `${prefix}.durable.${binding}`;
    this.defaultTimeoutMs = durationMs(options.timeout ?? DEFAULT_TIMEOUT_MS, "timeout");
  }

  /** Stores `value`: its JSON text, or its bytes when it is a Uint8Array or `raw` is set. */
  async create(key: string, value: unknown, options: CreateOptions = {}): Promise<void> {
    await this.invoke("create", withTtl({ key }, options.ttl), {
      ...options,
      raw: options.raw === true || value instanceof Uint8Array,
      value,
    });
  }

  /** The stored bytes, or undefined when the key does not exist (or holds no bytes). */
  get(key: string, options: GetOptions & { readonly raw: true }): Promise<Uint8Array | undefined>;
  /**
   * The stored value: parsed JSON, else the text, else (bytes that are not
   * UTF-8) a Uint8Array; undefined when the key does not exist.
   */
  get<T = unknown>(
    key: string,
    options?: GetOptions & { readonly raw?: false },
  ): Promise<T | undefined>;
  async get(key: string, options: GetOptions = {}): Promise<unknown> {
    const metadata: Record<string, string> = { key };
    if (options.delete === true) metadata.delete = "true";
    const raw = options.raw === true;
    const payload = await this.invoke("get", metadata, { ...options, raw, value: undefined });
    // A plain Uint8Array view: callers compare and pass it on without meeting Buffer.
    if (raw) {
      return payload.length === 0
        ? undefined
        : new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    }
    return decodeGetReply(this.binding, payload);
  }

  /** Deletes the key; succeeds whether or not it existed. */
  async delete(key: string, options: CallOptions = {}): Promise<void> {
    await this.invoke("delete", { key }, { ...options, raw: false, value: undefined });
  }

  /** INCR: the new value, a number while it is a safe integer, else a bigint. */
  async increment(key: string, options: IncrementOptions = {}): Promise<number | bigint> {
    const payload = await this.invoke("increment", withTtl({ key }, options.ttl), {
      ...options,
      raw: false,
      value: undefined,
    });
    return decodeCounter(this.binding, payload, false);
  }

  /**
   * Any operation with any metadata; resolves with the reply's payload (empty
   * for success without content) and throws the binding's error otherwise.
   */
  async invoke(
    operation: string,
    metadata: Readonly<Record<string, string>>,
    options: InvokeOptions = {},
  ): Promise<Uint8Array> {
    const timeoutMs =
      options.timeout === undefined
        ? this.defaultTimeoutMs
        : durationMs(options.timeout, "timeout");
    const request: WireRequest = {
      operation,
      metadata,
      value: options.value,
      raw: options.raw === true,
    };
    const { payload, headers } = encodeRequest(request, timeoutMs);
    let reply: Msg;
    try {
      if (options.durable === true) {
        const send = await loadDurableSend();
        reply = await send(this.nc, this.durableSubject, payload, {
          headers,
          timeoutMs: timeoutMs + REPLY_MARGIN_MS,
          ...(options.msgId !== undefined ? { msgId: options.msgId } : {}),
        });
      } else {
        reply = await this.nc.request(this.subject, payload, {
          headers,
          timeout: timeoutMs + REPLY_MARGIN_MS,
        });
      }
    } catch (error) {
      throw this.requestFailure(error, timeoutMs, options.durable === true);
    }
    return replyPayload(this.binding, reply);
  }

  /**
   * nats.js reports "nobody listens" and "nobody answered" as errors of its
   * own; they are recognised by shape, not class, so that a connection made
   * with another copy of the NATS library works too.
   */
  private requestFailure(error: unknown, timeoutMs: number, durable: boolean): unknown {
    const shape = error as {
      name?: unknown;
      message?: unknown;
      isNoResponders?: () => boolean;
      cause?: unknown;
    };
    const cause = shape.cause as { name?: unknown } | undefined;
    const details = { binding: this.binding, cause: error };
    const subject = durable ? this.durableSubject : this.subject;
    // A JetStream publish nobody stores is reported as "JetStream not enabled".
    if (
      (typeof shape.isNoResponders === "function" && shape.isNoResponders()) ||
      cause?.name === "NoResponders" ||
      shape.name === "JetStreamNotEnabled"
    ) {
      return new NoRespondersError(
        durable
          ? `no JetStream stream captures ${subject}: the workers' durable intake is off (BINDINGS_DURABLE) or not started`
          : `no worker serves ${subject}`,
        details,
      );
    }
    if (shape.name === "TimeoutError" || cause?.name === "TimeoutError") {
      return new ReplyTimeoutError(`no reply from ${subject} within ${timeoutMs}ms`, details);
    }
    if (shape.name === "DurableRequestTimeoutError") {
      // The request is stored in the stream and may still run: say how to retry safely.
      return new ReplyTimeoutError(
        `${String(shape.message)}; it is stored and may still be carried out; a retry with the same msgId is not applied twice`,
        details,
      );
    }
    return error;
  }
}

/** A binding name is one NATS subject token: no spaces, dots or wildcards. */
export function checkBindingName(binding: string): void {
  if (!/^[^\s.*>]+$/.test(binding)) {
    throw new TypeError(`binding name ${JSON.stringify(binding)} is not a NATS subject token`);
  }
}

function withTtl(
  metadata: Record<string, string>,
  ttl: number | string | undefined,
): Record<string, string> {
  if (ttl !== undefined) metadata.ttlInSeconds = String(ttl);
  return metadata;
}
