import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import fc from "fast-check";

/**
 * How many cases a property runs: the default suite runs the short profile
 * (about 2 000 cases in all), `npm run test:fuzz` the long one (over 100 000),
 * with FUZZ_PROFILE=long. FUZZ_SEED replays a failing run.
 */
export const LONG = process.env.FUZZ_PROFILE === "long";

export function runs(short: number, long: number): number {
  return LONG ? long : short;
}

export const SEED: number | undefined =
  process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;

/**
 * fast-check parameters for `numRuns` cases (and the seed to replay, if given).
 * A failure report is cut short: a counterexample may be a megabyte of input.
 */
export function params<T>(numRuns: number): fc.Parameters<T> {
  return {
    numRuns,
    ...(SEED === undefined ? {} : { seed: SEED }),
    plugins: [() => ({ onAllRunsComplete: (details: fc.RunDetails<T>) => report(details) })],
  };
}

function report<T>(details: fc.RunDetails<T>): void {
  if (!details.failed) return;
  const message = fc.defaultReportMessage(details) ?? "property failed";
  const cut =
    message.length > 3000 ? `${message.slice(0, 3000)}... (${message.length} chars)` : message;
  const cause =
    details.errorInstance instanceof Error ? `\n${details.errorInstance.stack ?? ""}` : "";
  throw new Error(`${cut}${cause.slice(0, 3000)}`);
}

/**
 * Records that a property passed `cases` generated cases. Printed, and kept in
 * FUZZ_REPORT (set by the fuzz config) so the run ends with the total.
 */
export function tally(property: string, cases: number): void {
  console.log(`fuzz: ${cases} cases passed: ${property}`);
  const file = process.env.FUZZ_REPORT;
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, `${JSON.stringify({ property, cases })}\n`);
  }
}
