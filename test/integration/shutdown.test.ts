import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import { getFreePort } from "../harness/ports.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent } from "../support/worker.js";
import { spawnWorker } from "../support/worker-process.js";

/** The worker as users run it: a separate process, stopped by a signal. */
describe("worker process", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let dir: string;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    nc = await connect({ servers: nats.url });
    dir = await mkdtemp(join(tmpdir(), "rbw-process-"));
    await writeFile(
      join(dir, "cache.yaml"),
      redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` }),
    );
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("answers every one of 500 in-flight requests after SIGTERM, then exits 0", async () => {
    const worker = spawnWorker({ NATS_URL: nats.url, COMPONENTS_PATH: dir });
    await worker.waitForLog((line) => line.msg === "binding serving");
    const direct = new Redis({ host: redis.host, port: redis.port });
    try {
      // Hold Redis so the requests are really in flight when the signal lands.
      await direct.call("CLIENT", "PAUSE", "1500", "ALL");
      const replies = Promise.all(
        Array.from({ length: 500 }, () =>
          request(
            nc,
            "bindings.cache",
            { operation: "increment", metadata: { key: "sigterm" } },
            { timeoutMs: 15_000 },
          ).then(
            (reply) => reply,
            (error: Error) => ({ status: -1, text: error.message }),
          ),
        ),
      );
      await nc.flush();
      await new Promise((resolve) => setTimeout(resolve, 300));
      worker.kill("SIGTERM");
      const answered = await replies;
      expect(answered.filter((reply) => reply.status !== 200)).toEqual([]);
      expect(await worker.exited()).toBe(0);
      expect(await direct.get("sigterm")).toBe("500");
      expect(worker.logs.some((line) => line.msg === "draining")).toBe(true);
      expect(worker.logs.at(-1)?.msg).toBe("stopped");
    } finally {
      direct.disconnect();
      worker.kill("SIGKILL");
    }
  });

  it("says so while it cannot reach NATS at start-up, instead of hanging silently", async () => {
    const closedPort = await getFreePort();
    const worker = spawnWorker({
      NATS_URL: `nats://127.0.0.1:${closedPort}`,
      COMPONENTS_PATH: dir,
    });
    try {
      const line = await worker.waitForLog(
        (entry) => entry.msg === "still not connected to NATS; retrying",
      );
      expect(line.level).toBe("warn");
      expect(line.servers).toEqual([`nats://127.0.0.1:${closedPort}`]);
    } finally {
      worker.kill("SIGKILL");
    }
  });

  it("stops at start-up with one error line naming file, component and field for a bad component", async () => {
    const badDir = await mkdtemp(join(tmpdir(), "rbw-bad-"));
    try {
      await writeFile(
        join(badDir, "broken.yaml"),
        redisComponent("broken", {
          redisHost: "localhost:6379",
          dialTimeout: "soon",
          redisPassword: "s3cr3t-value",
        }),
      );
      const worker = spawnWorker({ NATS_URL: nats.url, COMPONENTS_PATH: badDir });
      expect(await worker.exited()).toBe(1);
      const fatal = worker.logs.filter((line) => line.level === "fatal");
      expect(fatal).toHaveLength(1);
      expect(String(fatal[0]?.msg)).toMatch(/broken\.yaml.*broken.*dialTimeout/);
      expect(worker.output()).not.toContain("s3cr3t-value");
      expect(worker.output()).not.toMatch(/\n\s+at /);
    } finally {
      await rm(badDir, { recursive: true, force: true });
    }
  });
});
