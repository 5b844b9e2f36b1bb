import type { Invocation } from "../binding/invocation.js";
import type { Outcome } from "../binding/operations.js";
import { toBindingError } from "./errors.js";
import { recordKey } from "./idempotent-key.js";
import { defineOnceScripts, type OnceClient, type OnceReply } from "./idempotent-scripts.js";
import type { ClientSource } from "./port.js";
import { type AttemptObserver, type RetryPolicy, withRetries } from "./retry.js";

/** An outcome, and whether it was recorded by an earlier delivery rather than applied now. */
export interface OnceResult {
  readonly outcome: Outcome;
  readonly replayed: boolean;
}

const EMPTY: Outcome = Object.freeze({ kind: "empty" });
const APPLIED: OnceResult = Object.freeze({ outcome: EMPTY, replayed: false });

/**
 * Runs invocations at most once per request id (durable requests). Each
 * effect and its record are one Lua script (idempotent-scripts.ts), so a
 * redelivered request either finds nothing done and applies it, or finds the
 * record and gets the recorded outcome back, whatever point the previous
 * worker died at.
 *
 * Because a script that already ran only replays, every script may be sent
 * again after a lost reply: all of them go through the retry policy as
 * idempotent, INCR included, which the plain port cannot do.
 *
 * A plain `get` has no effect to protect and is not recorded; a redelivered
 * `get` reads the value again.
 *
 * `deadline` (ms on the `performance.now()` clock, as in RedisPort) ends the
 * retries of one delivery when its caller stops waiting. Optional: without
 * it only the retry policy bounds them.
 */
export class IdempotentExecutor {
  constructor(
    private readonly bindingName: string,
    private readonly clients: ClientSource,
    private readonly retry: RetryPolicy,
    /** How long records live; longer than any request can still be delivered again. */
    private readonly recordTtlMs: number,
    /** Traces and counts attempts, as for the plain port; optional so it works without telemetry. */
    private readonly attempts?: AttemptObserver,
  ) {}

  async execute(invocation: Invocation, requestId: string, deadline?: number): Promise<OnceResult> {
    const { key } = invocation;
    const record = recordKey(this.bindingName, key, requestId);
    const ttl = String(Math.ceil(this.recordTtlMs));
    const valueTtl = invocation.ttlMs === undefined ? "" : String(invocation.ttlMs);
    switch (invocation.operation) {
      case "create": {
        const value = Buffer.from(invocation.value ?? new Uint8Array(0));
        return this.once((c) => c.createOnceBuffer(key, record, ttl, value, valueTtl), deadline);
      }
      case "delete":
        return this.once((c) => c.deleteOnceBuffer(key, record, ttl), deadline);
      case "increment":
        return this.once((c) => c.incrementOnceBuffer(key, record, ttl, valueTtl), deadline);
      case "get": {
        if (invocation.deleteAfterRead) {
          return this.once((c) => c.getDeleteOnceBuffer(key, record, ttl), deadline);
        }
        const bytes = await this.run(() => this.clients.pick().getBuffer(key), deadline);
        return bytes === null ? APPLIED : { outcome: { kind: "value", bytes }, replayed: false };
      }
    }
  }

  private async once(
    script: (client: OnceClient) => Promise<OnceReply>,
    deadline: number | undefined,
  ): Promise<OnceResult> {
    const [status, outcome] = await this.run(
      () => script(defineOnceScripts(this.clients.pick())),
      deadline,
    );
    return { outcome: decodeOutcome(outcome), replayed: status.toString("latin1") === "replayed" };
  }

  private async run<T>(command: () => Promise<T>, deadline: number | undefined): Promise<T> {
    try {
      return await withRetries(this.retry, true, command, this.attempts, deadline);
    } catch (error) {
      throw toBindingError(error, this.bindingName);
    }
  }
}

/** Reads the one-letter outcome encoding of idempotent-scripts.ts. */
export function decodeOutcome(encoded: Buffer): Outcome {
  const tag = encoded[0];
  const rest = encoded.subarray(1);
  switch (tag) {
    case 0x76: // v
      return { kind: "value", bytes: Buffer.from(rest) };
    case 0x63: // c
      return { kind: "counter", value: rest.toString("latin1") };
    case 0x65: // e
      return EMPTY;
    default:
      throw new Error(`unreadable outcome record (tag ${String(tag)})`);
  }
}
