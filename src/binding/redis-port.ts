/**
 * The little slice of Redis the operations need. The binding layer speaks
 * only this; the redis/ room implements it over ioredis (with retries,
 * scripts and topology), and nothing here knows about NATS.
 */
export interface RedisPort {
  /** SET, with the expiry applied in the same command when given. */
  set(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void>;
  get(key: string): Promise<Buffer | null>;
  /** Atomic read-and-delete (GETDEL, or a script on servers that lack it). */
  getDel(key: string): Promise<Buffer | null>;
  del(key: string): Promise<void>;
  /** INCR, with the expiry applied atomically when given; the new value in decimal. */
  incr(key: string, ttlMs: number | undefined): Promise<string>;
}
