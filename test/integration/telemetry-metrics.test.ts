import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import { getFreePort } from "../harness/ports.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

interface HttpReply {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

async function get(port: number, path: string): Promise<HttpReply> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    text: await response.text(),
  };
}

/**
 * The value of the one sample of `name` whose labels include `labels`, from
 * Prometheus text; undefined when there is none. Fails on two matches, so a
 * test cannot pass by reading the wrong series.
 */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const matches = text.split("\n").filter((line) => {
    const parsed = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (parsed === null || parsed[1] !== name) return false;
    const present = new Map(
      [...(parsed[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(
        (match) => [match[1], match[2]] as const,
      ),
    );
    return Object.entries(labels).every(([label, value]) => present.get(label) === value);
  });
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match`);
  const line = matches[0];
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** `/metrics`, `/readyz` and `/livez` of an in-process worker, over HTTP. */
describe("metrics and health endpoints", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  const start = async (metadata: Record<string, string> = {}) => {
    const worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("cache", { redisHost: `${redis.host}:${redis.port}`, ...metadata }),
      ],
      env: { HTTP_PORT: String(await getFreePort()) },
    });
    workers.push(worker);
    const port = worker.worker.boundHttpPort;
    if (port === undefined) throw new Error("the worker has no HTTP port");
    return { worker, port };
  };

  const call = (body: unknown) => request(nc, "bindings.cache", body);

  it("counts exactly the requests answered, per binding, operation and reply code", async () => {
    const { port } = await start();
    await redis.cli("RPUSH", "metrics-list", "x");
    const statuses: number[] = [];
    for (let index = 0; index < 5; index++) {
      statuses.push(
        (await call({ operation: "create", metadata: { key: `m${index}` }, data: index })).status,
      );
    }
    for (let index = 0; index < 3; index++) {
      statuses.push((await call({ operation: "get", metadata: { key: `m${index}` } })).status);
    }
    for (let index = 0; index < 4; index++) statuses.push((await call("not json")).status);
    // An unknown operation's name must not become a label value.
    statuses.push((await call({ operation: "explode", metadata: { key: "k" } })).status);
    statuses.push((await call({ operation: "ZADD", metadata: { key: "k" } })).status);
    statuses.push(
      (await call({ operation: "increment", metadata: { key: "metrics-list" } })).status,
    );
    expect(statuses).toEqual([
      200, 200, 200, 200, 200, 200, 200, 200, 400, 400, 400, 400, 400, 400, 409,
    ]);

    const metrics = await get(port, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.contentType).toMatch(/^text\/plain/);
    const invocations = (operation: string, code: string) =>
      sample(metrics.text, "binding_invocations_total", { binding: "cache", operation, code });
    expect(invocations("create", "200")).toBe(5);
    expect(invocations("get", "200")).toBe(3);
    expect(invocations("unknown", "400")).toBe(6);
    expect(invocations("increment", "409")).toBe(1);
    expect(metrics.text).not.toMatch(/explode|ZADD/);
    const observed = (operation: string, code: string) =>
      sample(metrics.text, "binding_invocation_duration_seconds_count", {
        binding: "cache",
        operation,
        code,
      });
    expect(observed("create", "200")).toBe(5);
    expect(observed("unknown", "400")).toBe(6);
    expect(
      sample(metrics.text, "binding_invocation_duration_seconds_bucket", {
        operation: "get",
        code: "200",
        le: "+Inf",
      }),
    ).toBe(3);
    expect(sample(metrics.text, "binding_invocations_in_flight", { binding: "cache" })).toBe(0);
    expect(sample(metrics.text, "nats_reconnects_total")).toBe(0);
    expect(metrics.text).toMatch(/^target_info\{.*service_name="redis-binding-worker"/m);
  });

  it("answers /readyz 503 naming Redis while it is stopped and 200 once it is back, and counts Redis retries", async () => {
    const { port } = await start({
      redisMaxRetries: "2",
      redisMinRetryInterval: "1ms",
      redisMaxRetryInterval: "2ms",
    });
    expect(JSON.parse((await get(port, "/readyz")).text)).toMatchObject({ ready: true });
    expect((await get(port, "/readyz")).status).toBe(200);

    await redis.stop();
    try {
      await expect.poll(async () => (await get(port, "/readyz")).status).toBe(503);
      const body = JSON.parse((await get(port, "/readyz")).text);
      expect(body).toMatchObject({
        status: "not ready",
        ready: false,
        checks: { nats: true, redis: { cache: false }, draining: false },
      });
      expect((await get(port, "/livez")).status).toBe(200);
      expect((await call({ operation: "get", metadata: { key: "down" } })).status).toBe(503);
      const metrics = (await get(port, "/metrics")).text;
      expect(sample(metrics, "binding_redis_retries_total", { binding: "cache" })).toBe(2);
      expect(sample(metrics, "binding_invocations_total", { operation: "get", code: "503" })).toBe(
        1,
      );
    } finally {
      await redis.start();
    }
    await expect
      .poll(async () => (await get(port, "/readyz")).status, { timeout: 10_000 })
      .toBe(200);
  });

  it("answers /readyz 503 while draining, with requests still in flight, and /livez 200", async () => {
    const { worker, port } = await start();
    const direct = new Redis({ host: redis.host, port: redis.port });
    try {
      await direct.call("CLIENT", "PAUSE", "1500", "WRITE");
      const held = call({ operation: "create", metadata: { key: "held" }, data: 1 });
      await expect
        .poll(async () =>
          sample((await get(port, "/metrics")).text, "binding_invocations_in_flight", {
            binding: "cache",
          }),
        )
        .toBe(1);
      const stopping = worker.worker.stop();
      const readyz = await get(port, "/readyz");
      expect(readyz.status).toBe(503);
      expect(JSON.parse(readyz.text)).toMatchObject({ ready: false, checks: { draining: true } });
      expect((await get(port, "/livez")).status).toBe(200);
      expect((await held).status).toBe(200);
      await stopping;
    } finally {
      direct.disconnect();
    }
  });

  it("counts NATS reconnections and is not ready while NATS is away", async () => {
    const { port } = await start();
    await nats.stop();
    try {
      await expect.poll(async () => (await get(port, "/readyz")).status).toBe(503);
      expect(JSON.parse((await get(port, "/readyz")).text)).toMatchObject({
        checks: { nats: false },
      });
    } finally {
      await nats.start();
    }
    await expect
      .poll(async () => sample((await get(port, "/metrics")).text, "nats_reconnects_total"), {
        timeout: 15_000,
      })
      .toBe(1);
    await expect
      .poll(async () => (await get(port, "/readyz")).status, { timeout: 10_000 })
      .toBe(200);
    // A container's stop and start (TEST_SERVERS=containers) take seconds each
    // on a loaded machine; the polls above bound the worker's part.
  }, 60_000);
});
