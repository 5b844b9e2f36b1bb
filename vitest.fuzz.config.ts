import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * `npm run test:fuzz`: the property tests of test/fuzz with the long profile
 * (over 100 000 generated cases in all; the default suite runs about 2 000).
 * FUZZ_SEED=<n> replays a run. The global setup prints the case count at the end.
 */
const report = fileURLToPath(new URL(".tmp/fuzz-report.jsonl", import.meta.url));

export default defineConfig({
  test: {
    include: ["test/fuzz/**/*.test.ts"],
    globalSetup: ["test/support/global-build.ts", "test/fuzz/support/total.ts"],
    env: { FUZZ_PROFILE: "long", FUZZ_REPORT: report },
    testTimeout: 1_200_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
  },
});
