import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // test/containers needs a Docker engine and builds the image: `npm run test:containers`.
    // test/faults holds the long fault scenarios and the soak: `npm run test:faults`.
    exclude: [...configDefaults.exclude, "test/containers/**", "test/faults/**"],
    // Process-level tests run the worker as users do, from dist/: build it once per run.
    globalSetup: ["test/support/global-build.ts"],
    // Integration suites start real servers and wait for reconnects.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Child processes, not threads: each suite's spawned servers are tied to its own process, whose
    // exit hook kills them (see test/harness/process.ts).
    pool: "forks",
    // Two cores: two test files at a time (vitest 5 option; replaces poolOptions.forks.maxForks).
    fileParallelism: true,
    maxWorkers: 2,
  },
});
