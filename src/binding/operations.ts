import type { Invocation } from "./invocation.js";
import type { RedisPort } from "./redis-port.js";

/** What an operation produced, before any wire encoding. */
export type Outcome =
  | { readonly kind: "empty" }
  | { readonly kind: "value"; readonly bytes: Buffer }
  | { readonly kind: "counter"; readonly value: string };

const EMPTY: Outcome = Object.freeze({ kind: "empty" });
const NO_BYTES = new Uint8Array(0);

/**
 * Runs one invocation against Redis. Errors propagate as thrown by the port.
 * `deadline` (see RedisPort) is when the caller stops waiting; the port
 * retries nothing past it.
 */
export async function execute(
  redis: RedisPort,
  invocation: Invocation,
  deadline: number | undefined,
): Promise<Outcome> {
  switch (invocation.operation) {
    case "create":
      await redis.set(invocation.key, invocation.value ?? NO_BYTES, invocation.ttlMs, deadline);
      return EMPTY;
    case "get": {
      const bytes = invocation.deleteAfterRead
        ? await redis.getDel(invocation.key, deadline)
        : await redis.get(invocation.key, deadline);
      return bytes === null ? EMPTY : { kind: "value", bytes };
    }
    case "delete":
      await redis.del(invocation.key, deadline);
      return EMPTY;
    case "increment":
      return {
        kind: "counter",
        value: await redis.incr(invocation.key, invocation.ttlMs, deadline),
      };
  }
}
