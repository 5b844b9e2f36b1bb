import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

/** Redis outages, overload, concurrency and scale-out, against real servers. */
describe("availability", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  const workers: TestWorker[] = [];
  const component = () => redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` });

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    nc = await connect({ servers: nats.url });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  const start = async (env: Record<string, string> = {}, waitUntilServing = true) => {
    const worker = await startTestWorker({
      natsUrl: nats.url,
      components: [component()],
      env,
      waitUntilServing,
    });
    workers.push(worker);
    return worker;
  };

  it("answers 503 ERR_BINDING_UNAVAILABLE while Redis is down, and serves again once it is back", async () => {
    const { worker } = await start();
    expect(
      (
        await request(nc, "bindings.cache", {
          operation: "create",
          metadata: { key: "up" },
          data: 1,
        })
      ).status,
    ).toBe(200);
    await redis.stop();
    try {
      const reply = await request(nc, "bindings.cache", {
        operation: "get",
        metadata: { key: "up" },
      });
      expect(reply.status).toBe(503);
      expect(reply.json).toMatchObject({ errorCode: "ERR_BINDING_UNAVAILABLE" });
      expect(worker.readiness().ready).toBe(false);
      expect(worker.readiness().checks.redis).toEqual({ cache: false });
    } finally {
      await redis.start();
    }
    await expect
      .poll(
        async () =>
          (
            await request(nc, "bindings.cache", {
              operation: "increment",
              metadata: { key: "back" },
            })
          ).status,
        {
          timeout: 10_000,
          interval: 200,
        },
      )
      .toBe(200);
    expect(worker.readiness().ready).toBe(true);
  });

  it("subscribes only once Redis answers when started before Redis", async () => {
    await redis.stop();
    let worker: TestWorker;
    try {
      worker = await start({}, false);
      // Nobody serves the subject yet: the server answers no-responders.
      await expect(
        request(
          nc,
          "bindings.cache",
          { operation: "get", metadata: { key: "k" } },
          { timeoutMs: 1000 },
        ),
      ).rejects.toThrow(/no responders/i);
      expect(worker.worker.readiness().checks.subscriptions).toEqual({ cache: false });
    } finally {
      await redis.start();
    }
    await worker.worker.whenServing();
    const reply = await request(nc, "bindings.cache", {
      operation: "increment",
      metadata: { key: "late" },
    });
    expect(reply.status).toBe(200);
    expect(worker.worker.readiness().ready).toBe(true);
  });

  it("refuses requests past MAX_IN_FLIGHT with 503 at once and serves the rest", async () => {
    await start({ MAX_IN_FLIGHT: "4" });
    const direct = new Redis({ host: redis.host, port: redis.port });
    try {
      await direct.call("CLIENT", "PAUSE", "800", "ALL");
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          request(nc, "bindings.cache", {
            operation: "create",
            metadata: { key: `ov${index}` },
            data: index,
          }),
        ),
      );
      const statuses = replies.map((reply) => reply.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(4);
      expect(statuses.filter((status) => status === 503)).toHaveLength(16);
      const refused = replies.find((reply) => reply.status === 503);
      expect(refused?.json).toMatchObject({
        errorCode: "ERR_BINDING_UNAVAILABLE",
        message: expect.stringMatching(/overloaded/),
      });
      const after = await request(nc, "bindings.cache", {
        operation: "get",
        metadata: { key: "ov0" },
      });
      expect(after.status).toBe(200);
    } finally {
      direct.disconnect();
    }
  });

  it("answers 2 000 concurrent requests, each correctly", async () => {
    // 2 000 at once is past the default cap of 1 024 (which would rightly answer 503):
    // this test is about every request in flight being served correctly.
    await start({ MAX_IN_FLIGHT: "2000" });
    const count = 2000;
    const created = await Promise.all(
      Array.from({ length: count }, (_, index) =>
        request(
          nc,
          "bindings.cache",
          { operation: "create", metadata: { key: `c${index}` }, data: { index } },
          { timeoutMs: 20_000 },
        ),
      ),
    );
    expect(created.filter((reply) => reply.status !== 200).map((reply) => reply.text)).toEqual([]);
    const read = await Promise.all(
      Array.from({ length: count }, (_, index) =>
        request(
          nc,
          "bindings.cache",
          { operation: "get", metadata: { key: `c${index}` } },
          { timeoutMs: 20_000 },
        ),
      ),
    );
    read.forEach((reply, index) => {
      expect(reply.json).toEqual({ data: { index } });
    });
  });

  it("spreads requests over two workers in one queue group", async () => {
    const first = await start();
    const second = await start();
    const replies = await Promise.all(
      Array.from({ length: 400 }, (_, index) =>
        request(nc, "bindings.cache", {
          operation: "increment",
          metadata: { key: `spread${index % 10}` },
        }),
      ),
    );
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const stats = await Promise.all(
      [first, second].map(async ({ worker }) => {
        const reply = await nc.request(`$SRV.STATS.redis-binding.${worker.discoveryId}`, "", {
          timeout: 2000,
        });
        return (
          (reply.json() as { endpoints: { num_requests: number }[] }).endpoints[0]?.num_requests ??
          0
        );
      }),
    );
    expect(stats[0]).toBeGreaterThan(0);
    expect(stats[1]).toBeGreaterThan(0);
    expect((stats[0] ?? 0) + (stats[1] ?? 0)).toBe(400);
  });
});
