/**
 * The little slice of Redis the operations need. The binding layer speaks
 * only this; the redis/ room implements it over ioredis (with retries,
 * scripts and topology), and nothing here knows about NATS.
 *
 * Every method takes the request's `deadline` (ms on the `performance.now()`
 * clock, undefined for none): no retry of the command starts after it
 * (redis/retry.ts). It is an argument, like a Go context, rather than part of
 * the key or value: it says how long to try, not what to do, and a plain
 * number costs the hot path nothing. It is required, though it may be
 * undefined, so that a decorator of this port (telemetry's) cannot compile
 * without handing it on.
 */
export interface RedisPort {
  /** SET, with the expiry applied in the same command when given. */
  set(
    key: string,
    value: Uint8Array,
    ttlMs: number | undefined,
    deadline: number | undefined,
  ): Promise<void>;
  get(key: string, deadline: number | undefined): Promise<Buffer | null>;
  /** Atomic read-and-delete (GETDEL, or a script on servers that lack it). */
  getDel(key: string, deadline: number | undefined): Promise<Buffer | null>;
  del(key: string, deadline: number | undefined): Promise<void>;
  /** INCR, with the expiry applied atomically when given; the new value in decimal. */
  incr(key: string, ttlMs: number | undefined, deadline: number | undefined): Promise<string>;
}
