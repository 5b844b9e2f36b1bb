import type { RedisPort } from "../binding/redis-port.js";
import { toBindingError } from "./errors.js";
import { type AttemptObserver, type RetryPolicy, withRetries } from "./retry.js";
import type { ScriptedClient } from "./scripts.js";

/** Hands out the client for the next command (round-robin over a pool, or a cluster). */
export interface ClientSource {
  pick(): ScriptedClient;
}

const UNKNOWN_COMMAND = /^ERR unknown command/i;

/**
 * RedisPort over ioredis. Every command goes through the retry policy, and
 * commands that are not idempotent say so; every failure leaves here as a
 * BindingError. Scripts go as EVALSHA, EVAL when the server lacks them.
 * Each call's deadline goes to the retry loop, which stops retrying there.
 */
export class IoredisPort implements RedisPort {
  /** Flips once to the Lua fallback when the server has no GETDEL (Redis < 6.2). */
  private getDelSupported = true;

  constructor(
    private readonly bindingName: string,
    private readonly clients: ClientSource,
    private readonly retry: RetryPolicy,
    /** Traces and counts attempts; optional so the port works without telemetry. */
    private readonly attempts?: AttemptObserver,
  ) {}

  async set(
    key: string,
    value: Uint8Array,
    ttlMs: number | undefined,
    deadline: number | undefined,
  ): Promise<void> {
    const bytes = toBuffer(value);
    await this.run(
      true,
      (client) =>
        ttlMs === undefined ? client.set(key, bytes) : client.set(key, bytes, "PX", ttlMs),
      deadline,
    );
  }

  get(key: string, deadline: number | undefined): Promise<Buffer | null> {
    return this.run(true, (client) => client.getBuffer(key), deadline);
  }

  async getDel(key: string, deadline: number | undefined): Promise<Buffer | null> {
    // Not idempotent: a second GETDEL after a lost reply would find nothing.
    if (this.getDelSupported) {
      try {
        return await withRetries(
          this.retry,
          false,
          () => this.clients.pick().getdelBuffer(key),
          this.attempts,
          deadline,
        );
      } catch (error) {
        if (!(error instanceof Error && UNKNOWN_COMMAND.test(error.message))) {
          throw toBindingError(error, this.bindingName);
        }
        this.getDelSupported = false;
      }
    }
    return this.run(false, (client) => client.getAndDeleteBuffer(key), deadline);
  }

  async del(key: string, deadline: number | undefined): Promise<void> {
    await this.run(true, (client) => client.del(key), deadline);
  }

  async incr(
    key: string,
    ttlMs: number | undefined,
    deadline: number | undefined,
  ): Promise<string> {
    const reply = await this.run(
      false,
      (client) => (ttlMs === undefined ? client.incrExact(key) : client.incrWithTtl(key, ttlMs)),
      deadline,
    );
    return String(reply);
  }

  private async run<T>(
    idempotent: boolean,
    command: (client: ScriptedClient) => Promise<T>,
    deadline: number | undefined,
  ): Promise<T> {
    try {
      return await withRetries(
        this.retry,
        idempotent,
        () => command(this.clients.pick()),
        this.attempts,
        deadline,
      );
    } catch (error) {
      throw toBindingError(error, this.bindingName);
    }
  }
}

function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value)
    ? value
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
