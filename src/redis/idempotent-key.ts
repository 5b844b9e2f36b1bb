/**
 * Where the "this request was applied" record of a durable request lives.
 *
 * The record is written by the same Lua script as the data, so on a Redis
 * Cluster both keys must sit in one hash slot. Redis hashes only the part of
 * a key between the first `{` and the next `}` when that part is not empty
 * (the hash tag), else the whole key. The record key therefore carries, as its
 * own hash tag, exactly the part of the data key that Redis hashes.
 *
 * One case cannot be written that way: a data key without a usable tag that
 * contains `}` (e.g. `a}b`, `x{}y}`): `{a}b}` would hash `a`. For those the tag
 * is a short string chosen to land in the same slot, found by search once per
 * slot and cached.
 */

const RECORD_PREFIX = "rbw:applied:";
const SLOTS = 16_384;

/** CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for key slots. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/**
 * The part of `key` that Redis Cluster hashes. Working on the JS string is
 * exact: `{` and `}` are ASCII, and UTF-8 never uses their bytes inside a
 * multi-byte character, so positions agree with Redis's byte-wise search.
 */
export function hashedPart(key: string): string {
  const open = key.indexOf("{");
  if (open === -1) return key;
  const close = key.indexOf("}", open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

export function keySlot(key: string): number {
  return crc16(Buffer.from(hashedPart(key), "utf8")) % SLOTS;
}

const slotTags = new Map<number, string>();

/** A short brace-free string whose slot is `slot` (base-36 counting finds one within ~16k tries). */
export function tagForSlot(slot: number): string {
  const cached = slotTags.get(slot);
  if (cached !== undefined) return cached;
  for (let n = 0; ; n++) {
    const candidate = n.toString(36);
    if (crc16(Buffer.from(candidate, "latin1")) % SLOTS === slot) {
      slotTags.set(slot, candidate);
      return candidate;
    }
  }
}

/** The hash tag for records that must share a slot with `dataKey`. */
export function recordTag(dataKey: string): string {
  const part = hashedPart(dataKey);
  return part.includes("}") ? tagForSlot(keySlot(dataKey)) : part;
}

/**
 * `rbw:applied:{<tag>}:<binding>:<request id>`. The binding name keeps two
 * bindings on one Redis apart; the request id is the caller's `Nats-Msg-Id`.
 */
export function recordKey(bindingName: string, dataKey: string, requestId: string): string {
  return `${RECORD_PREFIX}{${recordTag(dataKey)}}:${bindingName}:${requestId}`;
}
