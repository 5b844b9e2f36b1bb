import { defineConfig } from "vitest/config";

/**
 * `npm run test:containers`: the image and the compose stack under a real
 * Docker engine (test/containers). Not part of `npm test`: it needs an engine
 * and builds an image. One file at a time: both start containers, and the
 * machine's two cores are shared.
 */
export default defineConfig({
  test: {
    include: ["test/containers/**/*.test.ts"],
    // dist/ for the CLI the tests run, then the image docker-compose.yml names.
    globalSetup: ["test/support/global-build.ts", "test/containers/global-image.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
  },
});
