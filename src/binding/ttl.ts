import { parseGoDuration } from "../config/duration.js";

const SECOND_MS = 1000;
/** Redis keeps expiries as signed 64-bit milliseconds; stay well inside what JS holds exactly. */
const MAX_TTL_MS = Number.MAX_SAFE_INTEGER;
const INTEGER = /^[0-9]+$/;

/**
 * Reads `ttlInSeconds` as PROTOCOL section 3 defines it: a positive integer of
 * seconds, or a Go duration of at least one second. Returns undefined for
 * anything else so the caller can answer 400; unlike Dapr we never turn a bad
 * TTL into `EXPIRE key 0`, which would delete the value just written.
 */
export function parseTtl(text: string): number | undefined {
  const trimmed = text.trim();
  if (INTEGER.test(trimmed)) {
    const seconds = Number(trimmed);
    if (seconds < 1) return undefined;
    const ms = seconds * SECOND_MS;
    return ms <= MAX_TTL_MS ? ms : undefined;
  }
  let ms: number;
  try {
    ms = parseGoDuration(trimmed);
  } catch {
    return undefined;
  }
  if (!Number.isFinite(ms) || ms < SECOND_MS || ms > MAX_TTL_MS) return undefined;
  return Math.round(ms);
}
