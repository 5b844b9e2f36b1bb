import type { Cluster, Redis } from "ioredis";

/**
 * Lua for durable requests: each operation and the record that it was applied
 * run as one script, so Redis either did both or neither. A worker dying at
 * any point therefore leaves either no effect (the redelivery applies it) or
 * the effect plus its record (the redelivery replays the recorded outcome).
 *
 * KEYS[1] is the data key, KEYS[2] the record key (same hash slot, see
 * idempotent-key.ts). ARGV[1] is how long the record lives, in ms. Every
 * script answers `{status, outcome}`: status `applied` or `replayed`, outcome
 * one letter and its bytes: `e` nothing to return, `v<bytes>` a value,
 * `c<digits>` a counter.
 */

const REPLAY_IF_RECORDED = `
local recorded = redis.call('GET', KEYS[2])
if recorded then return {'replayed', recorded} end
`;

const RECORD_AND_RETURN = `
redis.call('SET', KEYS[2], outcome, 'PX', ARGV[1])
return {'applied', outcome}
`;

/** ARGV[2] the value, ARGV[3] the TTL in ms or '' for none. */
export const CREATE_ONCE = `${REPLAY_IF_RECORDED}
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
local outcome = 'e'
${RECORD_AND_RETURN}`;

export const DELETE_ONCE = `${REPLAY_IF_RECORDED}
redis.call('DEL', KEYS[1])
local outcome = 'e'
${RECORD_AND_RETURN}`;

/** GET then DEL: the value read is recorded, so a redelivery still gets it. */
export const GET_DELETE_ONCE = `${REPLAY_IF_RECORDED}
local value = redis.call('GET', KEYS[1])
local outcome = 'e'
if value then
  redis.call('DEL', KEYS[1])
  outcome = 'v' .. value
end
${RECORD_AND_RETURN}`;

/**
 * INCR, then the expiry when ARGV[2] is not ''. The new value is read back
 * with GET: Lua turns INCR's integer reply into a double, which would round
 * counters beyond 2^53. If INCR fails (not an integer) the script stops
 * before writing anything.
 */
export const INCREMENT_ONCE = `${REPLAY_IF_RECORDED}
redis.call('INCR', KEYS[1])
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local outcome = 'c' .. redis.call('GET', KEYS[1])
${RECORD_AND_RETURN}`;

/** What the scripts answer, read as bytes: `[status, outcome]`. */
export type OnceReply = [Buffer, Buffer];

type Arg = string | Buffer;

/** A client with the once-scripts defined (EVALSHA, EVAL on NOSCRIPT). */
export interface OnceCommands {
  createOnceBuffer(
    key: string,
    record: string,
    ttl: Arg,
    value: Arg,
    valueTtl: Arg,
  ): Promise<OnceReply>;
  deleteOnceBuffer(key: string, record: string, ttl: Arg): Promise<OnceReply>;
  getDeleteOnceBuffer(key: string, record: string, ttl: Arg): Promise<OnceReply>;
  incrementOnceBuffer(key: string, record: string, ttl: Arg, valueTtl: Arg): Promise<OnceReply>;
}

export type OnceClient = (Redis | Cluster) & OnceCommands;

const DEFINED = Symbol("rbw.onceScriptsDefined");

/** Defines the scripts on a client once; safe to call again for the same client. */
export function defineOnceScripts(client: Redis | Cluster): OnceClient {
  const marked = client as unknown as { [DEFINED]?: boolean };
  if (marked[DEFINED] !== true) {
    client.defineCommand("createOnce", { numberOfKeys: 2, lua: CREATE_ONCE });
    client.defineCommand("deleteOnce", { numberOfKeys: 2, lua: DELETE_ONCE });
    client.defineCommand("getDeleteOnce", { numberOfKeys: 2, lua: GET_DELETE_ONCE });
    client.defineCommand("incrementOnce", { numberOfKeys: 2, lua: INCREMENT_ONCE });
    marked[DEFINED] = true;
  }
  return client as unknown as OnceClient;
}
