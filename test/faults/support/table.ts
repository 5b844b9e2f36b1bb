import { existsSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type FaultRow, formatRow, TABLE_HEADER } from "./report.js";

const REPORT = fileURLToPath(new URL("../../../.tmp/fault-report.jsonl", import.meta.url));

/** Global setup of `npm run test:faults`: a fresh report file, then the table once all ran. */
export default function faultTable(): () => void {
  rmSync(REPORT, { force: true });
  return () => {
    if (!existsSync(REPORT)) return;
    const rows = readFileSync(REPORT, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as FaultRow);
    console.log(
      `\nFault scenarios (${rows.length})\n${TABLE_HEADER}\n${rows.map(formatRow).join("\n")}\n`,
    );
  };
}
