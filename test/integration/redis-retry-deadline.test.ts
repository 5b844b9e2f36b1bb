import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { durableRequest } from "../../src/transport/durable/request.js";
import type { NatsServer } from "../harness/nats.js";
import { getFreePort } from "../harness/ports.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { readReply, request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 50 retries 200 ms apart: about 10 s of retrying, far beyond the request's deadline. */
const RETRIES = 50;
const BACKOFF_MS = 200;
const BINDING_TIMEOUT_MS = 800;

/**
 * A request's deadline also ends its Redis retries. Before, a `create` whose
 * caller had been answered 504 went on retrying in the background and was
 * written once Redis came back, seconds after the caller was told it failed.
 */
describe("Redis retries stop at the request's deadline", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let worker: TestWorker;
  let nc: NatsConnection;
  let direct: Redis;
  let httpPort: number;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([
      natsServer({ jetstream: true }),
      redisServer({ args: ["--appendonly", "no"] }),
    ]);
    httpPort = await getFreePort();
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("doomed", {
          redisHost: `${redis.host}:${redis.port}`,
          redisMaxRetries: String(RETRIES),
          redisMinRetryInterval: `${BACKOFF_MS}ms`,
          redisMaxRetryInterval: `${BACKOFF_MS}ms`,
          // Durable requests: the first failure is final (no redelivery).
          redeliverInterval: "0",
        }),
      ],
      // The binding's own budget is long: only the caller's Binding-Timeout cuts it short.
      env: { REQUEST_TIMEOUT: "30s", HTTP_PORT: String(httpPort) },
    });
    nc = await connect({ servers: nats.url });
    direct = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: null });
    direct.on("error", () => {});
  });

  afterAll(async () => {
    await nc?.close();
    direct?.disconnect();
    await worker?.stop();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  /** binding_redis_retries_total of the binding, from the worker's /metrics. */
  const retriesCounted = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const line = text
      .split("\n")
      .find((l) => l.startsWith("binding_redis_retries_total{") && l.includes('binding="doomed"'));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
  };

  const redisReady = () => {
    const redis = worker.worker.readiness().checks.redis as Readonly<Record<string, boolean>>;
    return redis.doomed === true;
  };

  it("a create answered with a failure is not written when Redis comes back", async () => {
    await redis.stop();
    // The worker has seen the connection go: the create below fails without reaching Redis.
    await waitFor(() => !redisReady(), 15_000, "the worker to see Redis down");
    const retriesBefore = await retriesCounted();

    const reply = await request(
      nc,
      "bindings.doomed",
      { operation: "create", metadata: { key: "late" }, data: "too late" },
      { timeoutMs: 15_000, headers: { "Binding-Timeout": `${BINDING_TIMEOUT_MS}ms` } },
    );
    // The caller is told the create timed out (the contract's answer when the
    // retries outlast the deadline).
    expect(reply.status).toBe(504);
    expect(reply.json).toMatchObject({ errorCode: "ERR_BINDING_TIMEOUT" });
    const retriesAtReply = (await retriesCounted()) - retriesBefore;

    await redis.start();
    await waitFor(redisReady, 20_000, "the worker to reconnect to Redis");
    // A retry still running would land within one backoff (200 ms) of the
    // reconnect; give it ten times that.
    await sleep(10 * BACKOFF_MS);

    expect(await direct.get("late")).toBeNull();
    // No retry after the reply, and at most the few that fit in the deadline
    // (every retry waits 200 ms and must end before 800 ms), not 50.
    expect((await retriesCounted()) - retriesBefore).toBe(retriesAtReply);
    expect(retriesAtReply).toBeLessThanOrEqual(BINDING_TIMEOUT_MS / BACKOFF_MS);

    // The binding serves again, and the same create now succeeds.
    const again = await request(
      nc,
      "bindings.doomed",
      { operation: "create", metadata: { key: "late" }, data: "in time" },
      { timeoutMs: 15_000 },
    );
    expect(again.status).toBe(200);
    expect(await direct.get("late")).toBe('"in time"');
  }, 90_000);

  it("so do a durable request's, whose retries are counted like direct ones", async () => {
    await waitFor(
      () => worker.logs.some((line) => line.msg === "durable intake pulling"),
      20_000,
      "the durable intake to pull",
    );
    await redis.stop();
    await waitFor(() => !redisReady(), 15_000, "the worker to see Redis down");
    const retriesBefore = await retriesCounted();

    const reply = readReply(
      await durableRequest(
        nc,
        "bindings.durable.doomed",
        JSON.stringify({ operation: "create", metadata: { key: "late-durable" }, data: "x" }),
        { timeoutMs: 15_000, headers: { "Binding-Timeout": `${BINDING_TIMEOUT_MS}ms` } },
      ),
    );
    expect(reply.status).toBe(504);
    const retriesAtReply = (await retriesCounted()) - retriesBefore;

    await redis.start();
    await waitFor(redisReady, 20_000, "the worker to reconnect to Redis");
    await sleep(10 * BACKOFF_MS);

    expect(await direct.get("late-durable")).toBeNull();
    // The delivery retried (and the retries were counted) within its budget, then stopped.
    expect(retriesAtReply).toBeGreaterThan(0);
    expect(retriesAtReply).toBeLessThanOrEqual(BINDING_TIMEOUT_MS / BACKOFF_MS);
    expect((await retriesCounted()) - retriesBefore).toBe(retriesAtReply);
  }, 90_000);
});

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
