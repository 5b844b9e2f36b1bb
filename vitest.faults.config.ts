import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * `npm run test:faults`: the long fault scenarios and the soak (test/faults),
 * plus the short fault scenarios of the default suite, one file at a time so
 * that each scenario's load and timings are its own. Every scenario prints its
 * row; the global setup prints the whole table at the end.
 */
const report = fileURLToPath(new URL(".tmp/fault-report.jsonl", import.meta.url));

export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts", "test/integration/fault-*.test.ts"],
    globalSetup: ["test/support/global-build.ts", "test/faults/support/table.ts"],
    env: { FAULT_REPORT: report },
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
  },
});
