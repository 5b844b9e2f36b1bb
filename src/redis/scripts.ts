import type { Cluster, Redis } from "ioredis";

/**
 * Lua run server-side so each operation stays atomic. Each touches one key
 * only, so they also run on a Redis Cluster.
 */

/** INCR then PEXPIRE; if INCR fails the script aborts before the expiry. */
export const INCR_WITH_TTL = `
local value = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return value
`;

/** GETDEL for servers before 6.2. */
export const GET_AND_DELETE = `
local value = redis.call('GET', KEYS[1])
if value then redis.call('DEL', KEYS[1]) end
return value
`;

/** A client with our scripts defined on it (sent as EVALSHA, EVAL on NOSCRIPT). */
export type ScriptedClient = (Redis | Cluster) & {
  incrWithTtl(key: string, ttlMs: number): Promise<string | number>;
  getAndDeleteBuffer(key: string): Promise<Buffer | null>;
};

export function defineScripts(client: Redis | Cluster): ScriptedClient {
  client.defineCommand("incrWithTtl", { numberOfKeys: 1, lua: INCR_WITH_TTL });
  client.defineCommand("getAndDelete", { numberOfKeys: 1, lua: GET_AND_DELETE });
  return client as ScriptedClient;
}
