import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { startTcpProxy, type TcpProxy } from "../harness/tcp-proxy.js";
import { type BindingReply, request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `redisMaxRetries` with go-redis's backoff, `readTimeout`, and what the
 * caller sees when retries run out (503) or the deadline passes (504; the
 * retries end there too: redis-retry-deadline.test.ts shows none goes on
 * after). An increment is never applied twice, however often connections
 * drop.
 */
describe("retries and timeouts", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let worker: TestWorker;
  let nc: NatsConnection;
  let direct: Redis;
  /** Between the "counter" binding and Redis, to cut its connections at will. */
  let proxy: TcpProxy;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([
      natsServer(),
      redisServer({ args: ["--appendonly", "no"] }),
    ]);
    const host = `${redis.host}:${redis.port}`;
    proxy = await startTcpProxy(redis.host, redis.port);
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        // Rides out a restart: 20 retries, 100-500 ms apart (about 9 s).
        redisComponent("patient", {
          redisHost: host,
          redisMaxRetries: "20",
          redisMinRetryInterval: "100ms",
          redisMaxRetryInterval: "500ms",
        }),
        // Gives up after 5 retries of 400-800 ms each: between 2 s and 4 s.
        redisComponent("brief", {
          redisHost: host,
          redisMaxRetries: "5",
          redisMinRetryInterval: "400ms",
          redisMaxRetryInterval: "800ms",
        }),
        redisComponent("none", { redisHost: host }),
        redisComponent("counter", {
          redisHost: `${proxy.host}:${proxy.port}`,
          poolSize: "2",
          redisMaxRetries: "20",
        }),
        redisComponent("slow", { redisHost: host, readTimeout: "200ms" }),
      ],
      env: { REQUEST_TIMEOUT: "30s", MAX_IN_FLIGHT: "5000" },
    });
    nc = await connect({ servers: nats.url });
    direct = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: null });
    direct.on("error", () => {});
  });

  beforeEach(async () => {
    // Every test starts with Redis up and every binding connected.
    await redis.start();
    await waitFor(() => worker.worker.readiness().ready, 15_000, "the worker to be ready");
  });

  afterAll(async () => {
    await nc?.close();
    direct?.disconnect();
    await worker?.stop();
    await proxy?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  const call = (binding: string, body: unknown, headers?: Record<string, string>) =>
    request(nc, `bindings.${binding}`, body, {
      timeoutMs: 40_000,
      ...(headers ? { headers } : {}),
    });

  it("a request sent while Redis is down succeeds once Redis is back within the retry window", async () => {
    await redis.stop();
    const stoppedAt = Date.now();
    const created = call("patient", {
      operation: "create",
      metadata: { key: "survivor" },
      data: "kept",
    });
    // Surely never sent while Redis was down, so even an increment is retried.
    const counted = call("patient", { operation: "increment", metadata: { key: "hits" } });
    await sleep(1500);
    await redis.start();
    const [createReply, countReply] = await Promise.all([created, counted]);
    expect(createReply.status).toBe(200);
    expect(countReply.json).toEqual({ data: 1 });
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(1500);
    expect(await direct.get("survivor")).toBe('"kept"');
    expect(await direct.get("hits")).toBe("1");
  });

  it("answers 503 after the configured retries, in about the time the backoff predicts", async () => {
    await redis.stop();
    const timed = async (binding: string) => {
      const started = Date.now();
      const reply = await call(binding, { operation: "get", metadata: { key: "k" } });
      return { reply, elapsed: Date.now() - started };
    };
    const [brief, none] = await Promise.all([timed("brief"), timed("none")]);
    for (const { reply } of [brief, none]) {
      expect(reply.status).toBe(503);
      expect(reply.json).toMatchObject({ errorCode: "ERR_BINDING_UNAVAILABLE" });
    }
    // Five waits of 400-800 ms each (go-redis: min + rand[0, min * 2^n), capped at max).
    expect(brief.elapsed).toBeGreaterThanOrEqual(1950);
    expect(brief.elapsed).toBeLessThan(9000);
    // Without redisMaxRetries: no retry at all.
    expect(none.elapsed).toBeLessThan(1500);
  });

  it("answers 504 when the request's deadline passes before the retries are over", async () => {
    await redis.stop();
    const started = Date.now();
    const reply = await call(
      "patient",
      { operation: "get", metadata: { key: "k" } },
      { "Binding-Timeout": "1s" },
    );
    expect(reply.status).toBe(504);
    expect(reply.json).toMatchObject({ errorCode: "ERR_BINDING_TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("answers 504 when Redis does not answer within readTimeout, then serves again", async () => {
    await direct.call("CLIENT", "PAUSE", "1000", "ALL");
    const reply = await call("slow", { operation: "get", metadata: { key: "k" } });
    expect(reply.status).toBe(504);
    expect(reply.json).toMatchObject({
      errorCode: "ERR_BINDING_TIMEOUT",
      // readTimeout's message, not the request deadline's (REQUEST_TIMEOUT is 30 s here).
      message: expect.stringMatching(/did not answer in time/),
    });
    await sleep(1000);
    expect(
      (await call("slow", { operation: "increment", metadata: { key: "later" } })).json,
    ).toEqual({ data: 1 });
  });

  it("never counts an increment twice when connections are cut under load", async () => {
    await direct.del("contested");
    const stored = async () => Number((await direct.get("contested")) ?? 0);
    // The proxy holds every chunk for 50 ms each way. Cutting the line as
    // soon as Redis has counted part of a batch therefore drops replies of
    // INCRs that ran: the case where sending again would count twice.
    proxy.setDelay(50);
    const replies: BindingReply[] = [];
    try {
      for (let round = 0; round < 4; round++) {
        const before = await stored();
        const batch = Array.from({ length: 1000 }, () =>
          call("counter", { operation: "increment", metadata: { key: "contested" } }),
        );
        const deadline = Date.now() + 10_000;
        while ((await stored()) < before + 100 && Date.now() < deadline) await sleep(2);
        proxy.cut();
        await sleep(20);
        proxy.restore();
        replies.push(...(await Promise.all(batch)));
      }
    } finally {
      proxy.setDelay(0);
    }

    const succeeded = replies.filter((reply) => reply.status === 200).length;
    const failed = replies.filter((reply) => reply.status !== 200);
    const counter = await stored();
    // Replies were lost for INCRs that ran (else this test proves nothing)...
    expect(counter).toBeGreaterThan(succeeded);
    // ...and each of those is a failed request, never one retried into a success.
    expect(counter).toBeLessThanOrEqual(succeeded + failed.length);
    // Lost connections are "unavailable", never another kind of error.
    expect(failed.filter((reply) => reply.status !== 503).map((reply) => reply.text)).toEqual([]);
    expect(succeeded).toBeGreaterThan(0);
    // And the binding serves on once the line is back.
    const after = await call("counter", { operation: "increment", metadata: { key: "contested" } });
    expect(after.json).toEqual({ data: counter + 1 });
  });
});

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
