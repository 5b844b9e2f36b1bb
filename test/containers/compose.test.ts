import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BindingClient } from "../../src/client/index.js";
import type { StatsResponse } from "../../src/transport/discovery.js";
import { getFreePort } from "../harness/ports.js";
import { onTestProcessExit, waitUntil } from "../harness/process.js";
import { compose, composeQuietly, inspect, uniqueName } from "./docker.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/**
 * docker-compose.yml's default profile as a newcomer starts it, scaled to
 * three workers: the queue group must spread requests over all of them.
 */
describe("the compose stack (default profile)", () => {
  const project = uniqueName("rbw-compose").replaceAll("-", "");
  const ports: Record<string, string> = {};
  let nc: NatsConnection;
  let unregister: () => void = () => {};

  const composeIn = (args: string[], timeoutMs = 120_000) =>
    compose(["--project-name", project, ...args], { env: ports, timeoutMs });

  beforeAll(async () => {
    // The host's own NATS and Redis may hold 4222/6379/8222: publish on free ports instead.
    ports.NATS_PORT = String(await getFreePort());
    ports.REDIS_PORT = String(await getFreePort());
    ports.NATS_MONITOR_PORT = String(await getFreePort());
    unregister = onTestProcessExit(() => {
      composeQuietly(["--project-name", project, "down", "-v", "--remove-orphans"]);
    });
    // The global setup built the image this file names; no --build here.
    await composeIn(["up", "-d", "--no-build", "--scale", "worker=3"], 180_000);
    await waitUntil(
      async () => {
        const ids = (await composeIn(["ps", "-q", "worker"])).stdout.split("\n").filter(Boolean);
        if (ids.length !== 3) return false;
        const states = await Promise.all(
          ids.map((id) => inspect<string>(id, ".State.Health.Status")),
        );
        return states.every((state) => state === "healthy");
      },
      { timeoutMs: 120_000, intervalMs: 1_000, what: "three healthy workers" },
    );
    nc = await connect({ servers: `nats://127.0.0.1:${ports.NATS_PORT}` });
  }, 300_000);

  afterAll(async () => {
    await nc?.close();
    await composeIn(["down", "-v", "--remove-orphans"]).catch((error: Error) => {
      process.stderr.write(`compose down failed: ${error.message}\n`);
    });
    unregister();
  }, 120_000);

  it("publishes NATS monitoring with JetStream enabled", async () => {
    const response = await fetch(`http://127.0.0.1:${ports.NATS_MONITOR_PORT}/jsz`);
    expect(response.status).toBe(200);
    const jsz = (await response.json()) as { config?: { store_dir?: string } };
    expect(jsz.config?.store_dir).toBe("/data/jetstream");
  });

  it("answers 300 requests, and every one of the three workers served some", async () => {
    const cache = new BindingClient(nc, "cache");
    const outcomes = await Promise.all(
      Array.from({ length: 300 }, (_, index) =>
        cache.increment(`compose-${index % 10}`).then(
          () => "ok",
          (error: Error) => error.message,
        ),
      ),
    );
    expect(outcomes.filter((outcome) => outcome !== "ok")).toEqual([]);
    let total = 0;
    for (let key = 0; key < 10; key++) {
      total += Number(await cache.get<number>(`compose-${key}`));
    }
    expect(total).toBe(300);

    // What an operator would run: the CLI's services listing, here as JSON.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, "services", "--json", "--wait", "1s"],
      { env: { PATH: process.env.PATH ?? "", NATS_URL: `nats://127.0.0.1:${ports.NATS_PORT}` } },
    );
    const workers = JSON.parse(stdout) as StatsResponse[];
    expect(workers).toHaveLength(3);
    const served = workers.map(
      (worker) => worker.endpoints.find((endpoint) => endpoint.name === "cache")?.num_requests ?? 0,
    );
    // The transcript an operator would see, for the record of the run.
    process.stdout.write(
      `compose: 300 increments over 10 keys, all ok, sum read back ${total}; requests served per worker ($SRV.STATS): ${served.join(" / ")}\n`,
    );
    expect(served.every((count) => count > 0)).toBe(true);
    expect(served.reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(310);
  });
});
