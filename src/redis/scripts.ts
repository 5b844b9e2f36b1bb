import type { Cluster, Redis } from "ioredis";
import { defineOnceScripts } from "./idempotent-scripts.js";

/**
 * Lua run server-side so each operation stays atomic. Each touches one key
 * only, so they also run on a Redis Cluster. Counters are returned with GET,
 * as text: Lua turns INCR's integer into a double, which is exact only up to
 * 2^53, and a counter may go up to 2^63 - 1.
 */

/** INCR then PEXPIRE; if INCR fails the script aborts before the expiry. */
export const INCR_WITH_TTL = `
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return redis.call('GET', KEYS[1])
`;

/** INCR with its result as text, for connections that parse integers into numbers. */
export const INCR_AS_TEXT = `
redis.call('INCR', KEYS[1])
return redis.call('GET', KEYS[1])
`;

/** GETDEL for servers before 6.2. */
export const GET_AND_DELETE = `
local value = redis.call('GET', KEYS[1])
if value then redis.call('DEL', KEYS[1]) end
return value
`;

/** A client with our scripts defined on it (sent as EVALSHA, EVAL on NOSCRIPT). */
export type ScriptedClient = (Redis | Cluster) & {
  /** INCR; the new value exactly, beyond 2^53 too (as a string there). */
  incrExact(key: string): Promise<string | number>;
  incrWithTtl(key: string, ttlMs: number): Promise<string>;
  getAndDeleteBuffer(key: string): Promise<Buffer | null>;
};

/**
 * `integersAsStrings`: the connection was made with ioredis's `stringNumbers`,
 * so a plain INCR already answers exactly. A cluster cannot use that option
 * (ioredis 6 then misreads CLUSTER SLOTS and loses part of the slot map), so
 * there INCR goes through a script that answers with text.
 */
export function defineScripts(client: Redis | Cluster, integersAsStrings: boolean): ScriptedClient {
  client.defineCommand("incrWithTtl", { numberOfKeys: 1, lua: INCR_WITH_TTL });
  client.defineCommand("getAndDelete", { numberOfKeys: 1, lua: GET_AND_DELETE });
  if (integersAsStrings) {
    Object.defineProperty(client, "incrExact", { value: (key: string) => client.incr(key) });
  } else {
    client.defineCommand("incrExact", { numberOfKeys: 1, lua: INCR_AS_TEXT });
  }
  // The durable intake's scripts too, now: an auto-pipeline batch copies the
  // client's commands when it opens, so a command defined later (on the first
  // durable request) is missing from a batch already open. ioredis then
  // throws "pipeline[functionName] is not a function" and, when the batch
  // returns, an uncaught TypeError that ends the process.
  defineOnceScripts(client);
  return client as ScriptedClient;
}
