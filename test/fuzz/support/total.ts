import { existsSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const REPORT = fileURLToPath(new URL("../../../.tmp/fuzz-report.jsonl", import.meta.url));

/** Global setup of `npm run test:fuzz`: a fresh count, then the total of generated cases. */
export default function fuzzTotal(): () => void {
  rmSync(REPORT, { force: true });
  return () => {
    if (!existsSync(REPORT)) return;
    const rows = readFileSync(REPORT, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { property: string; cases: number });
    const total = rows.reduce((sum, row) => sum + row.cases, 0);
    const lines = rows.map((row) => `  ${String(row.cases).padStart(7)}  ${row.property}`);
    console.log(
      `\nGenerated cases that passed, by property:\n${lines.join("\n")}\n  ${String(total).padStart(7)}  in all\n`,
    );
  };
}
