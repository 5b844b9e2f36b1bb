import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `redisUsername`/`redisPassword` as a Redis 6+ ACL user limited to a key
 * pattern, and `poolSize` as the number of connections.
 */
describe("Redis ACL users and connection pools", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let worker: TestWorker;
  let nc: NatsConnection;
  const connectionsOf = async (binding: string) =>
    (await redis.cli("CLIENT", "LIST"))
      .split("\n")
      .filter((line) => line.includes(` name=redis-binding-worker:${binding} `));

  beforeAll(async () => {
    [nats, redis] = await Promise.all([
      natsServer(),
      redisServer({ args: ["--appendonly", "no"] }),
    ]);
    await redis.cli("ACL", "SETUSER", "app", "on", ">app-secret", "~app:*", "+@all");
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("cache", {
          redisHost: `${redis.host}:${redis.port}`,
          redisUsername: "app",
          redisPassword: "app-secret",
          poolSize: "3",
        }),
        redisComponent("single", { redisHost: `${redis.host}:${redis.port}` }),
      ],
    });
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  const call = (body: unknown) => request(nc, "bindings.cache", body);

  it("serves every operation on the keys the user may touch", async () => {
    expect((await call({ operation: "create", metadata: { key: "app:1" }, data: 7 })).status).toBe(
      200,
    );
    expect((await call({ operation: "get", metadata: { key: "app:1" } })).json).toEqual({
      data: 7,
    });
    expect(
      (await call({ operation: "increment", metadata: { key: "app:n", ttl: "1m" } })).json,
    ).toEqual({ data: 1 });
    expect(
      (await call({ operation: "get", metadata: { key: "app:1", delete: "true" } })).json,
    ).toEqual({ data: 7 });
    expect((await call({ operation: "delete", metadata: { key: "app:n" } })).status).toBe(200);
    expect(await redis.cli("EXISTS", "app:1", "app:n")).toBe("0");
  });

  it("answers other keys with 500 NOPERM, and goes on serving", async () => {
    const forbidden = [
      { operation: "get", metadata: { key: "other:1" } },
      { operation: "create", metadata: { key: "other:1" }, data: 1 },
      { operation: "increment", metadata: { key: "other:n" } },
      { operation: "increment", metadata: { key: "other:n", ttl: "1m" } },
      { operation: "get", metadata: { key: "other:1", delete: "true" } },
      { operation: "delete", metadata: { key: "other:1" } },
    ];
    for (const body of forbidden) {
      const reply = await call(body);
      expect(reply.status, JSON.stringify(body)).toBe(500);
      expect(reply.json).toMatchObject({
        errorCode: "ERR_INVOKE_OUTPUT_BINDING",
        message: expect.stringMatching(/^error invoking output binding cache: NOPERM/),
      });
    }
    expect(await redis.cli("EXISTS", "other:1", "other:n")).toBe("0");
    expect((await call({ operation: "increment", metadata: { key: "app:after" } })).json).toEqual({
      data: 1,
    });
    expect(worker.worker.readiness().ready).toBe(true);
  });

  it("opens poolSize connections as the user, and one when poolSize is not set", async () => {
    const pooled = await connectionsOf("cache");
    expect(pooled).toHaveLength(3);
    for (const line of pooled) expect(line).toContain(" user=app ");
    expect(await connectionsOf("single")).toHaveLength(1);
    // Requests go round the pool: every connection ran a command lately.
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        call({ operation: "create", metadata: { key: `app:spread:${i}` }, data: i }),
      ),
    );
    for (const line of await connectionsOf("cache")) expect(line).toMatch(/ cmd=set /);
  });

  it("logs a wrong password as an authentication failure and never becomes ready", async () => {
    const wrong = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("wrong", {
          redisHost: `${redis.host}:${redis.port}`,
          redisUsername: "app",
          redisPassword: "not-the-secret",
        }),
      ],
      waitUntilServing: false,
    });
    try {
      const deadline = Date.now() + 10_000;
      while (!wrong.logs.some((line) => line.msg === "redis authentication failed")) {
        if (Date.now() > deadline) throw new Error("no authentication failure logged");
        await sleep(50);
      }
      const line = wrong.logs.find((entry) => entry.msg === "redis authentication failed");
      expect(line).toMatchObject({ binding: "wrong", level: "error" });
      expect(String(line?.reason)).toMatch(/WRONGPASS/);
      expect(wrong.worker.readiness().checks.redis).toEqual({ wrong: false });
    } finally {
      await wrong.stop();
    }
  });
});
