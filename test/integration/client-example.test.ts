import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/node/quickstart.mjs", import.meta.url));

/**
 * examples/node/quickstart.mjs as a user runs it: a separate Node process that
 * imports "redis-binding-worker/client" through package.json `exports` (the
 * built dist/), against a running worker.
 */
describe("the Node client example", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let worker: TestWorker;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` })],
      env: { BINDINGS_DURABLE: "false" },
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it("runs and prints what the README shows", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE], {
      env: { PATH: process.env.PATH ?? "", NATS_URL: nats.url },
    });
    expect(stdout).toBe(
      [
        "get greeting: { hello: 'world' }",
        "increment hits: 1",
        "increment hits: 2",
        "get logo (raw): Uint8Array(4) [ 137, 80, 78, 71 ]",
        "get greeting, deleting it: { hello: 'world' }",
        "get greeting again: undefined",
        "create with ttl 0: 400 ERR_INVALID_REQUEST, retryable: false",
        "unknown binding: ERR_NO_RESPONDERS, retryable: true",
        "",
      ].join("\n"),
    );
  });
});
