import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatsResponse } from "../../src/transport/discovery.js";
import type { NatsServer } from "../harness/nats.js";
import { getFreePort } from "../harness/ports.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";
import { spawnWorker } from "../support/worker-process.js";
import { cli } from "./cli-process.js";

/** services, health, validate and the help texts, run as the built CLI. */
describe("redis-binding-worker services, health, validate", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  const workers: TestWorker[] = [];
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    const component = redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` });
    for (let i = 0; i < 2; i++) {
      workers.push(
        await startTestWorker({
          natsUrl: nats.url,
          components: [component],
          // The first one serves /readyz for the health command.
          env: {
            BINDINGS_DURABLE: "false",
            HTTP_PORT: i === 0 ? String(await getFreePort()) : "0",
          },
        }),
      );
    }
    dir = await mkdtemp(join(tmpdir(), "rbw-cli-validate-"));
    env = { NATS_URL: nats.url };
  });

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await Promise.all([nats?.close(), redis?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("services lists every worker with its counts", async () => {
    for (let i = 0; i < 20; i++) {
      await cli(["invoke", "cache", "increment", "--key", "svc"], { env }).then((result) =>
        expect(result.code).toBe(0),
      );
    }
    const table = await cli(["services"], { env });
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^WORKER\s+VERSION\s+BINDING\s+SUBJECT\s+REQUESTS/);
    for (const { worker } of workers) expect(table.out).toContain(worker.discoveryId);
    expect(table.out).toContain(
      "2 redis-binding workers answered within 500ms, 20 requests served",
    );

    const json = await cli(["services", "--json", "--wait", "300ms"], { env });
    const answers = JSON.parse(json.out) as StatsResponse[];
    expect(answers.map((answer) => answer.id).sort()).toEqual(
      workers.map(({ worker }) => worker.discoveryId).sort(),
    );
    const served = answers.map((answer) => answer.endpoints[0]?.num_requests ?? 0);
    expect(served.reduce((sum, count) => sum + count, 0)).toBe(20);
  });

  it("services exits 3 when no worker answers, 2 on bad usage", async () => {
    const none = await cli(["services", "--name", "nobody-here", "--wait", "200ms"], { env });
    expect(none.code).toBe(3);
    expect(none.stderr).toContain("no nobody-here workers answered within 200ms");
    const bad = await cli(["services", "--wait", "later"], { env });
    expect(bad.code).toBe(2);
  });

  it("health is 0 for a ready worker's port and 1 when nothing answers", async () => {
    const port = workers[0]?.worker.boundHttpPort;
    expect(port).toBeDefined();
    const ready = await cli(["health", "--port", String(port)]);
    expect(ready.code).toBe(0);
    expect(ready.out).toMatch(/^200 \{"status":"ready"/);
    const live = await cli(["health", "--live"], { env: { HTTP_PORT: String(port) } });
    expect(live.code).toBe(0);
    const nobody = await cli(["health", "--port", "1", "--timeout", "500ms"]);
    expect(nobody.code).toBe(1);
    const disabled = await cli(["health"], { env: { HTTP_PORT: "0" } });
    expect(disabled.code).toBe(2);
  });

  it("validate prints the resolved settings, or one error line and exit 1", async () => {
    await writeFile(
      join(dir, "cache.yaml"),
      redisComponent("cache", { redisHost: "redis:6379", redisPassword: "s3cret" }),
    );
    const good = await cli(["validate", dir]);
    expect(good.code).toBe(0);
    const report = JSON.parse(good.out) as { bindings: Record<string, unknown>[] };
    expect(report.bindings[0]).toMatchObject({ name: "cache", redisPassword: "****" });
    expect(good.out).not.toContain("s3cret");

    await writeFile(
      join(dir, "cache.yaml"),
      redisComponent("cache", { redisHost: "redis:6379", readTimeout: "soon" }),
    );
    const bad = await cli(["validate", dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toMatch(/cache\.yaml, component "cache", field "readTimeout"/);
  });

  it("run exits 0 on SIGTERM even when NATS has gone away", async () => {
    // Its own NATS, to stop: a drain that cannot reach the server must not
    // leave the process reconnecting forever after "stopped".
    const ownNats = await natsServer();
    await writeFile(
      join(dir, "cache.yaml"),
      redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` }),
    );
    const worker = spawnWorker({
      NATS_URL: ownNats.url,
      COMPONENTS_PATH: dir,
      BINDINGS_DURABLE: "false",
    });
    try {
      await worker.waitForLog((line) => line.msg === "binding serving");
      await ownNats.close();
      await worker.waitForLog((line) => line.msg === "disconnected from NATS");
      worker.kill("SIGTERM");
      const code = await Promise.race([
        worker.exited(),
        new Promise((resolve) => setTimeout(() => resolve("still running"), 15_000)),
      ]);
      expect(code).toBe(0);
      expect(worker.logs.at(-1)?.msg).toBe("stopped");
    } finally {
      worker.kill("SIGKILL");
    }
  });

  it("every command has --help, and the bare command prints usage with exit 2", async () => {
    for (const command of ["run", "validate", "invoke", "services", "health"]) {
      const help = await cli([command, "--help"]);
      expect(help.code, command).toBe(0);
      expect(help.out, command).toMatch(/^Usage: redis-binding-worker /);
    }
    const bare = await cli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("Usage:");
    const unknown = await cli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    const version = await cli(["--version"]);
    expect(version.out).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
