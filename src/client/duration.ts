/**
 * Durations as callers write them: a number of milliseconds, or a Go-style
 * string ("250ms", "2s", "1m30s"), the same forms the worker accepts in
 * `Binding-Timeout`. Kept here, small, so the client needs nothing from the
 * worker's config code.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3, // MICRO SIGN, as Go accepts
  "\u03bcs": 1e-3, // GREEK SMALL LETTER MU, as Go accepts
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;

/** Milliseconds of `value`; throws a RangeError naming `what` when it is not a positive duration. */
export function durationMs(value: number | string, what: string): number {
  const ms = typeof value === "number" ? value : parseDuration(value.trim());
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(
      `${what} must be a positive number of milliseconds or a duration such as "500ms" or "2s" (got ${JSON.stringify(value)})`,
    );
  }
  return Math.ceil(ms);
}

function parseDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  if (text === "") return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (match === null) return undefined;
    const unit = UNIT_MS[match[2] ?? ""];
    if (unit === undefined) return undefined;
    total += Number(match[1]) * unit;
  }
  return total;
}
