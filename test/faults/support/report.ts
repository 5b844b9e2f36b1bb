import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

/** One line of the fault table: what a scenario sent and what came back. */
export interface FaultRow {
  readonly scenario: string;
  readonly requests: number;
  /** Replies by kind: "200", "503", "504", ..., "no-responders", "timeout", "error". */
  readonly replies: Readonly<Record<string, number>>;
  /** Requests that never got any answer (must be 0). */
  readonly lost: number;
  /**
   * Requests lost with the process the scenario killed (a worker's SIGKILL, the
   * nats-server that stopped): core NATS is at most once. Counted apart from `lost`.
   */
  readonly lostToFault?: number;
  /** Effects applied twice (must be 0). */
  readonly doubleApplied: number;
  /** Anything else worth reading next to the counts. */
  readonly notes?: string;
}

export function formatReplies(replies: Readonly<Record<string, number>>): string {
  return Object.entries(replies)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, count]) => `${kind}:${count}`)
    .join(" ");
}

export function formatRow(row: FaultRow): string {
  return `| ${row.scenario} | ${row.requests} | ${formatReplies(row.replies)} | ${row.lost} | ${row.lostToFault ?? 0} | ${row.doubleApplied} | ${row.notes ?? ""} |`;
}

export const TABLE_HEADER =
  "| scenario | requests | replies by code | lost | lost with the killed process (core NATS) | double-applied | notes |\n|---|---|---|---|---|---|---|";

/**
 * Prints the row (vitest shows it under the test) and, when FAULT_REPORT names
 * a file (the faults config sets it), appends it there as JSON so the run can
 * end with the whole table.
 */
export function reportRow(row: FaultRow): void {
  console.log(`${TABLE_HEADER}\n${formatRow(row)}`);
  const file = process.env.FAULT_REPORT;
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, `${JSON.stringify(row)}\n`);
  }
}
