import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BindingClient } from "../../src/client/index.js";
import { getFreePort } from "../harness/ports.js";
import { onTestProcessExit, waitUntil } from "../harness/process.js";
import { docker, dockerQuietly, IMAGE, inspect, REPO_ROOT, uniqueName } from "./docker.js";

/**
 * The image as an operator runs it: NATS and Redis in their own containers on
 * a private network, the worker configured only by environment and a mounted
 * components directory, stopped with `docker stop`.
 */
describe("the container image", () => {
  const network = uniqueName("rbw-image");
  const nats = `${network}-nats`;
  const redis = `${network}-redis`;
  const worker = `${network}-worker`;
  let natsPort: number;
  let httpPort: number;
  let nc: NatsConnection;
  let unregister: () => void = () => {};

  beforeAll(async () => {
    unregister = onTestProcessExit(() => {
      dockerQuietly(["rm", "-f", "-v", worker, nats, redis]);
      dockerQuietly(["network", "rm", network]);
    });
    [natsPort, httpPort] = [await getFreePort(), await getFreePort()];
    await docker(["network", "create", network]);
    await Promise.all([
      docker([
        "run",
        "-d",
        "--name",
        nats,
        "--network",
        network,
        "--network-alias",
        "nats",
        "-p",
        `127.0.0.1:${natsPort}:4222`,
        "nats:2",
        "-js",
      ]),
      docker([
        "run",
        "-d",
        "--name",
        redis,
        "--network",
        network,
        "--network-alias",
        "redis",
        "redis:7",
        "redis-server",
        "--save",
        "",
      ]),
    ]);
    await waitUntil(
      async () => {
        nc = await connect({ servers: `nats://127.0.0.1:${natsPort}`, reconnect: false });
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: "NATS in its container" },
    );
    await docker([
      "run",
      "-d",
      "--name",
      worker,
      "--network",
      network,
      "-e",
      "NATS_URL=nats://nats:4222",
      "-e",
      "SHUTDOWN_GRACE=20s",
      "-p",
      `127.0.0.1:${httpPort}:8080`,
      // The image's HEALTHCHECK command, run more often than its 10s so the test is quick.
      "--health-interval",
      "1s",
      // config/compose holds the `cache` component pointing at the host name "redis".
      "-v",
      `${REPO_ROOT}/config/compose:/app/config/components:ro`,
      IMAGE,
    ]);
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    dockerQuietly(["rm", "-f", "-v", worker, nats, redis]);
    dockerQuietly(["network", "rm", network]);
    unregister();
  });

  it("is labelled, runs as a non-root user under tini, and declares a health check", async () => {
    const config = await inspect<{
      User: string;
      Entrypoint: string[];
      Labels: Record<string, string>;
      Healthcheck?: { Test: string[] };
      StopSignal?: string;
    }>(IMAGE, ".Config");
    expect(config.User).toBe("10001:10001");
    expect(config.Entrypoint[0]).toBe("/usr/bin/tini");
    expect(config.Labels["org.opencontainers.image.title"]).toBe("redis-binding-worker");
    expect(config.Labels["org.opencontainers.image.version"]).toMatch(/^\d+\.\d+\.\d+/);
    // Liveness, so a Redis outage does not get every container replaced.
    expect(config.Healthcheck?.Test).toEqual(expect.arrayContaining(["health", "--live"]));
    expect(config.StopSignal).toBe("SIGTERM");
  });

  it("turns ready, then healthy", async () => {
    let body = "";
    await waitUntil(
      async () => {
        const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
        body = await response.text();
        return response.status === 200;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: `/readyz to answer 200 (last: ${body})` },
    );
    expect(JSON.parse(body)).toMatchObject({ ready: true, checks: { redis: { cache: true } } });
    await waitUntil(
      async () => (await inspect<string>(worker, ".State.Health.Status")) === "healthy",
      { timeoutMs: 30_000, intervalMs: 500, what: "docker to report the container healthy" },
    );
    // PID 1 is tini, and the worker runs as its child with uid 10001.
    const pid1 = await docker(["exec", worker, "cat", "/proc/1/cmdline"]);
    expect(pid1.stdout.split("\0")[0]).toBe("/usr/bin/tini");
    const uid = await docker(["exec", worker, "id", "-u"]);
    expect(uid.stdout.trim()).toBe("10001");
    // The CLI is on PATH inside the container, for operators.
    const services = await docker(["exec", worker, "redis-binding-worker", "services"]);
    expect(services.stdout).toContain("1 redis-binding worker answered");
  });

  it("answers a request through NATS", async () => {
    const cache = new BindingClient(nc, "cache");
    await cache.create("image-test", { from: "container" }, { ttl: 60 });
    expect(await cache.get("image-test")).toEqual({ from: "container" });
  });

  it("drains on docker stop: every request in flight is answered, then it exits 0", async () => {
    const cache = new BindingClient(nc, "cache", { timeout: "20s" });
    // Hold Redis so the requests are really in flight when the signal arrives.
    await docker(["exec", redis, "redis-cli", "CLIENT", "PAUSE", "2000", "ALL"]);
    const replies = Array.from({ length: 100 }, () =>
      cache.increment("drained").then(
        () => "ok",
        (error: Error) => error.message,
      ),
    );
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stopped = docker(["stop", "--time", "30", worker], { timeoutMs: 60_000 });
    const outcomes = await Promise.all(replies);
    await stopped;

    expect(outcomes.filter((outcome) => outcome !== "ok")).toEqual([]);
    expect(await inspect<number>(worker, ".State.ExitCode")).toBe(0);
    const logs = await docker(["logs", worker]);
    const lines = logs.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg?: string; signal?: string });
    expect(lines.find((line) => line.msg === "signal received")?.signal).toBe("SIGTERM");
    expect(lines.at(-1)?.msg).toBe("stopped");
    const counter = await docker(["exec", redis, "redis-cli", "GET", "drained"]);
    expect(counter.stdout.trim()).toBe("100");
  });
});
