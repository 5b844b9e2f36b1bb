/**
 * Parsers for the scalar forms used in component metadata and the environment
 * (PROTOCOL sections 1 and 7). They throw `ValueFormatError` with a reason that
 * never repeats the input: the caller decides whether the value is safe to show
 * (it may have come from a secret store).
 */

export class ValueFormatError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "ValueFormatError";
  }
}

const NS_PER_MS = 1_000_000n;

const UNIT_NS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["\u00b5s", 1_000n], // MICRO SIGN, as Go accepts
  ["\u03bcs", 1_000n], // GREEK SMALL LETTER MU, as Go accepts
  ["ms", NS_PER_MS],
  ["s", 1_000n * NS_PER_MS],
  ["m", 60_000n * NS_PER_MS],
  ["h", 3_600_000n * NS_PER_MS],
]);

// Go's time.Duration is an int64 of nanoseconds; matching its range keeps
// "valid here" and "valid in Dapr" the same set of strings.
const MAX_NS = (1n << 63n) - 1n;

const DIGITS = /^[0-9]+/;
const UNIT = /^[^0-9.]+/;

/**
 * Parses a Go duration string (`time.ParseDuration` syntax: "300ms", "1.5h",
 * "2h45m", "-1m30s", "10us") into milliseconds, fractions of a millisecond
 * kept.
 */
export function parseGoDuration(text: string): number {
  let rest = text;
  let negative = false;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    negative = rest.startsWith("-");
    rest = rest.slice(1);
  }
  // Go accepts a unitless zero and nothing else without a unit.
  if (rest === "0") return 0;
  if (rest === "") throw new ValueFormatError("invalid duration: empty");

  let totalNs = 0n;
  while (rest !== "") {
    const whole = DIGITS.exec(rest)?.[0] ?? "";
    rest = rest.slice(whole.length);
    let fraction = "";
    let hasDot = false;
    if (rest.startsWith(".")) {
      hasDot = true;
      rest = rest.slice(1);
      fraction = DIGITS.exec(rest)?.[0] ?? "";
      rest = rest.slice(fraction.length);
    }
    if (whole === "" && fraction === "") {
      throw new ValueFormatError(
        hasDot ? "invalid duration: a number needs digits" : "invalid duration: expected a number",
      );
    }
    const unitText = UNIT.exec(rest)?.[0] ?? "";
    rest = rest.slice(unitText.length);
    if (unitText === "") {
      throw new ValueFormatError(
        "invalid duration: missing unit (ns, us, ms, s, m, h); a bare number is only allowed where milliseconds are meant",
      );
    }
    const unitNs = UNIT_NS.get(unitText);
    if (unitNs === undefined) {
      throw new ValueFormatError("invalid duration: unknown unit (use ns, us, ms, s, m or h)");
    }
    totalNs += BigInt(whole === "" ? "0" : whole) * unitNs;
    if (fraction !== "") {
      totalNs += (BigInt(fraction) * unitNs) / 10n ** BigInt(fraction.length);
    }
    if (totalNs > MAX_NS + (negative ? 1n : 0n)) {
      throw new ValueFormatError("invalid duration: out of range");
    }
  }
  const ms = nsToMs(totalNs);
  return negative && ms !== 0 ? -ms : ms;
}

function nsToMs(ns: bigint): number {
  const whole = ns / NS_PER_MS;
  const rest = ns % NS_PER_MS;
  return Number(whole) + Number(rest) / 1e6;
}

const INTEGER = /^[+-]?[0-9]+$/;

/**
 * A duration in component metadata, classified by the PROTOCOL rules; what
 * "zero" means (default or disabled) is the field's business.
 */
export type DurationSetting =
  | { readonly kind: "zero" }
  | { readonly kind: "disabled" }
  | { readonly kind: "ms"; readonly ms: number };

/**
 * Reads a component duration: a Go duration, a bare positive integer of
 * milliseconds (as Dapr's Redis components do), "-1" for disabled, and any
 * spelling of zero ("0", "0s") as zero. Other negative values are rejected:
 * go-redis only knows -1 as a sentinel, so "-5s" has no meaning there.
 * Positive results are rounded up to whole milliseconds so that a sub-millisecond
 * value never collapses into zero, which would mean "default" or "disabled".
 */
export function parseDurationSetting(text: string): DurationSetting {
  const trimmed = text.trim();
  if (trimmed === "-1") return { kind: "disabled" };
  const ms = INTEGER.test(trimmed) ? parseIntegerMs(trimmed) : parseGoDuration(trimmed);
  if (ms < 0) {
    throw new ValueFormatError('invalid duration: negative; use "-1" to disable');
  }
  if (ms === 0) return { kind: "zero" };
  return { kind: "ms", ms: Math.ceil(ms) };
}

/**
 * A non-negative duration written as a Go duration or as whole milliseconds
 * (environment settings, the `Binding-Timeout` header). Rounded up to whole
 * milliseconds.
 */
export function parseDurationOrMs(text: string): number {
  const trimmed = text.trim();
  const ms = INTEGER.test(trimmed) ? parseIntegerMs(trimmed) : parseGoDuration(trimmed);
  if (ms < 0) throw new ValueFormatError("invalid duration: negative");
  return Math.ceil(ms);
}

function parseIntegerMs(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new ValueFormatError("invalid duration: out of range");
  return value;
}

/**
 * An integer in Go's `strconv.Atoi` syntax (optional sign, decimal digits),
 * checked against an inclusive range.
 */
export function parseInteger(
  text: string,
  range: { readonly min?: number; readonly max?: number } = {},
): number {
  const trimmed = text.trim();
  if (!INTEGER.test(trimmed)) throw new ValueFormatError("invalid integer");
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value)) throw new ValueFormatError("invalid integer: out of range");
  const { min, max } = range;
  if (min !== undefined && value < min) {
    throw new ValueFormatError(`invalid integer: must be at least ${min}`);
  }
  if (max !== undefined && value > max) {
    throw new ValueFormatError(`invalid integer: must be at most ${max}`);
  }
  return value;
}

const TRUE_WORDS = new Set(["true", "t", "1"]);
const FALSE_WORDS = new Set(["false", "f", "0"]);

/** `true/false/1/0/t/f` in any case (a superset of Go's `strconv.ParseBool`). */
export function parseBool(text: string): boolean {
  const word = text.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new ValueFormatError("invalid boolean: expected true, false, 1, 0, t or f");
}

/** A compact Go-style rendering for logs ("1m30s", "512ms", "1.5s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${trimNumber(ms)}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  return (
    (hours > 0 ? `${hours}h` : "") +
    (minutes > 0 ? `${minutes}m` : "") +
    (seconds > 0 ? `${trimNumber(seconds)}s` : "")
  );
}

function trimNumber(value: number): string {
  return String(Number(value.toFixed(6)));
}
