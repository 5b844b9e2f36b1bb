import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BindingClient,
  BindingError,
  BindingTimeoutError,
  InvalidRequestError,
  NoRespondersError,
  ReplyTimeoutError,
  UnsupportedOperationError,
  ValueConflictError,
} from "../../src/client/index.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

/** The typed client against a running worker over real NATS (with JetStream) and Redis. */
describe("BindingClient", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let worker: TestWorker;
  let cache: BindingClient;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    nc = await connect({ servers: nats.url });
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` })],
    });
    cache = new BindingClient(nc, "cache", { timeout: "5s" });
  });

  afterAll(async () => {
    await worker?.stop();
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it("creates and gets a JSON value, typed", async () => {
    await cache.create("greeting", { hello: "world", n: 1 });
    const value = await cache.get<{ hello: string; n: number }>("greeting");
    expect(value?.hello).toBe("world");
    expect(value).toEqual({ hello: "world", n: 1 });
    // Stored exactly as Dapr stores it: the JSON text.
    expect(await redis.cli("GET", "greeting")).toBe('{"hello":"world","n":1}');
  });

  it("gets undefined for a missing key", async () => {
    expect(await cache.get("no-such-key")).toBeUndefined();
    expect(await cache.get("no-such-key", { raw: true })).toBeUndefined();
  });

  it("sets a TTL with the write, in seconds or as a duration", async () => {
    await cache.create("ttl-seconds", "v", { ttl: 60 });
    await cache.create("ttl-duration", "v", { ttl: "2m" });
    expect(Number(await redis.cli("TTL", "ttl-seconds"))).toBeGreaterThan(50);
    expect(Number(await redis.cli("TTL", "ttl-duration"))).toBeGreaterThan(110);
  });

  it("reads and deletes in one step, and deletes", async () => {
    await cache.create("once", [1, 2, 3]);
    expect(await cache.get("once", { delete: true })).toEqual([1, 2, 3]);
    expect(await cache.get("once")).toBeUndefined();
    await cache.create("doomed", true);
    await cache.delete("doomed");
    await cache.delete("doomed");
    expect(await cache.get("doomed")).toBeUndefined();
  });

  it("increments, as a number and past 2^53 as a bigint", async () => {
    expect(await cache.increment("hits")).toBe(1);
    expect(await cache.increment("hits", { ttl: "1h" })).toBe(2);
    expect(Number(await redis.cli("TTL", "hits"))).toBeGreaterThan(3500);
    await redis.cli("SET", "big", "9007199254740993");
    expect(await cache.increment("big")).toBe(9007199254740994n);
  });

  it("stores raw bytes as they are and returns them", async () => {
    const bytes = new Uint8Array([0, 1, 2, 0xfe, 0xff, 10, 13]);
    await cache.create("blob", bytes);
    expect(await cache.get("blob", { raw: true })).toEqual(bytes);
    // In JSON mode the worker sends bytes that are not UTF-8 as base64; the client decodes them.
    expect(await cache.get("blob")).toEqual(bytes);
    // A string in raw mode is stored without JSON quotes.
    await cache.create("plain", "just text", { raw: true });
    expect(await redis.cli("GET", "plain")).toBe("just text");
    expect(await cache.get("plain")).toBe("just text");
  });

  it("turns error replies into error classes carrying code, status and retryable", async () => {
    const badTtl = await cache.create("k", 1, { ttl: 0 }).catch((error: unknown) => error);
    expect(badTtl).toBeInstanceOf(InvalidRequestError);
    expect(badTtl).toBeInstanceOf(BindingError);
    expect(badTtl).toMatchObject({
      code: "ERR_INVALID_REQUEST",
      status: 400,
      retryable: false,
      binding: "cache",
    });
    expect((badTtl as Error).message).toMatch(/ttlInSeconds/);

    await cache.create("text", "not a number");
    const conflict = await cache.increment("text").catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(ValueConflictError);
    expect(conflict).toMatchObject({ status: 409, retryable: false });

    const unknown = await cache.invoke("frobnicate", { key: "k" }).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(UnsupportedOperationError);
  });

  it("says when no worker serves a binding", async () => {
    const nobody = new BindingClient(nc, "nobody");
    const error = await nobody.get("k").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NoRespondersError);
    expect(error).toMatchObject({ code: "ERR_NO_RESPONDERS", retryable: true, binding: "nobody" });
  });

  it("gives up after its timeout when nobody answers", async () => {
    // A subscriber that takes requests and never replies: a hung worker.
    const silent = nc.subscribe("bindings.silent", { callback: () => {} });
    await nc.flush();
    const started = Date.now();
    const error = await new BindingClient(nc, "silent")
      .get("k", { timeout: 300 })
      .catch((caught: unknown) => caught);
    silent.unsubscribe();
    expect(error).toBeInstanceOf(ReplyTimeoutError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("hands its timeout to the worker, which answers 504 in time", async () => {
    await redis.cli("CLIENT", "PAUSE", "1000", "WRITE");
    try {
      const error = await cache
        .create("slow", 1, { timeout: "200ms" })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(BindingTimeoutError);
      expect(error).toMatchObject({ status: 504, retryable: true });
    } finally {
      await redis.cli("CLIENT", "UNPAUSE");
    }
  });

  it("sends durable requests through the JetStream intake, once per msgId", async () => {
    await waitForDurableIntake(worker);
    await cache.create("durable", { kept: true }, { durable: true, timeout: "10s" });
    expect(await cache.get("durable", { durable: true, timeout: "10s" })).toEqual({ kept: true });
    const first = await cache.increment("durable-count", { durable: true, msgId: "count-1" });
    expect(first).toBe(1);
    // The same msgId again is the same request, as a caller whose reply was
    // lost would send it: answered with the first outcome, not applied again
    // (the stream drops it as a duplicate at first, so the client publishes
    // it again until the stream's short window has passed).
    const again = await cache.increment("durable-count", {
      durable: true,
      msgId: "count-1",
      timeout: "30s",
    });
    expect(again).toBe(1);
    expect(await cache.get("durable-count")).toBe(1);
    // A new id is a new request.
    expect(await cache.increment("durable-count", { durable: true, msgId: "count-2" })).toBe(2);
  }, 60_000);

  it("works with a custom subject prefix", async () => {
    const other = await startTestWorker({
      natsUrl: nats.url,
      components: [redisComponent("store", { redisHost: `${redis.host}:${redis.port}` })],
      env: { BINDINGS_SUBJECT_PREFIX: "team.kv", BINDINGS_DURABLE: "false" },
    });
    try {
      const store = new BindingClient(nc, "store", { subjectPrefix: "team.kv" });
      expect(store.subject).toBe("team.kv.store");
      await store.create("prefixed", 42);
      expect(await store.get("prefixed")).toBe(42);
      const durable = await store
        .get("prefixed", { durable: true, timeout: 500 })
        .catch((caught: unknown) => caught);
      // No stream captures team.kv.durable.store: the client says so instead of hanging.
      expect(durable).toBeInstanceOf(NoRespondersError);
      expect((durable as Error).message).toMatch(/durable intake/);
    } finally {
      await other.stop();
    }
  });
});

async function waitForDurableIntake(worker: TestWorker): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!worker.logs.some((line) => line.msg === "durable intake pulling")) {
    if (Date.now() > deadline) throw new Error("the worker's durable intake did not start");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
