import {
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import {
  connect,
  createInbox,
  type Msg,
  type NatsConnection,
  headers as natsHeaders,
} from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IdempotentExecutor } from "../../src/redis/idempotent.js";
import type { ScriptedClient } from "../../src/redis/scripts.js";
import { DEAD_LETTER_HEADERS } from "../../src/transport/durable/dead-letter.js";
import { durableRequest } from "../../src/transport/durable/request.js";
import { DUPLICATE_WINDOW_MS } from "../../src/transport/durable/setup.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { type BindingReply, readReply, request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

/**
 * The durable intake against real servers: nats-server with JetStream and
 * Redis, one worker in this process. Crashes are in durable-crash.test.ts.
 */
describe("durable intake", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let direct: Redis;
  let worker: TestWorker;
  const STREAM = "rbw-durable-bindings";

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    // Where operators keep dead letters: a stream of their own.
    await jsm.streams.add({ name: "dead-letters", subjects: ["bindings.deadletter.>"] });
    // The intake's stream as an earlier version left it: the server's default
    // two-minute de-duplication window, which the worker shortens.
    await jsm.streams.add({
      name: STREAM,
      subjects: ["bindings.durable.>"],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: 120_000 * 1_000_000,
    });
    direct = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
    direct.on("error", () => undefined);
    const redisHost = `${redis.host}:${redis.port}`;
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("cache", {
          redisHost,
          processingTimeout: "2s",
          redeliverInterval: "1500ms",
        }),
        redisComponent("once", { redisHost, processingTimeout: "2s", redeliverInterval: "0" }),
      ],
    });
    await waitForLogs(worker, (line) => line.msg === "durable intake pulling", 2);
  });

  afterAll(async () => {
    await worker?.stop();
    direct?.disconnect();
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  const send = async (
    binding: string,
    body: unknown,
    options: { msgId?: string; headers?: Record<string, string>; payload?: Uint8Array } = {},
  ): Promise<BindingReply> =>
    readReply(
      await durableRequest(
        nc,
        `bindings.durable.${binding}`,
        options.payload ?? JSON.stringify(body),
        {
          timeoutMs: 15_000,
          ...(options.msgId !== undefined ? { msgId: options.msgId } : {}),
          ...(options.headers !== undefined ? { headers: options.headers } : {}),
        },
      ),
    );

  it("creates, gets and increments through JetStream, answering on Binding-Reply-To", async () => {
    const created = await send("cache", {
      operation: "create",
      metadata: { key: "d1" },
      data: { Hello: "World" },
    });
    expect(created.status).toBe(200);
    expect(created.text).toBe("");
    expect(await send("cache", { operation: "get", metadata: { key: "d1" } })).toMatchObject({
      status: 200,
      json: { data: { Hello: "World" } },
    });
    expect((await send("cache", { operation: "increment", metadata: { key: "n1" } })).json).toEqual(
      { data: 1 },
    );
    expect(
      (await send("cache", { operation: "increment", metadata: { key: "n1", ttlInSeconds: "60" } }))
        .json,
    ).toEqual({ data: 2 });
    expect(Number(await direct.pttl("n1"))).toBeGreaterThan(50_000);

    // Raw mode and get-with-delete, the same as on the direct subject.
    const bytes = Buffer.from([0, 1, 2, 255]);
    const stored = await send("cache", undefined, {
      payload: bytes,
      headers: {
        "Content-Type": "application/octet-stream",
        operation: "create",
        "metadata.key": "raw1",
      },
    });
    expect(stored.status).toBe(200);
    const taken = await send("cache", {
      operation: "get",
      metadata: { key: "raw1", delete: "true" },
    });
    expect(taken.json).toEqual({
      data: bytes.toString("base64"),
      metadata: { dataEncoding: "base64" },
    });
    expect(await direct.exists("raw1")).toBe(0);

    // The same answers as the direct subject gives.
    const viaDirect = await request(nc, "bindings.cache", {
      operation: "get",
      metadata: { key: "d1" },
    });
    expect(viaDirect.text).toBe(
      (await send("cache", { operation: "get", metadata: { key: "d1" } })).text,
    );
  });

  it("keeps the stream's de-duplication window short, so a retried msg id is stored and answered", async () => {
    const { config } = await jsm.streams.info(STREAM);
    expect(config.duplicate_window).toBe(DUPLICATE_WINDOW_MS * 1_000_000);
    expect(DUPLICATE_WINDOW_MS).toBeLessThanOrEqual(10_000);
  });

  it("processes and acknowledges a request without Binding-Reply-To, answering nobody", async () => {
    const js = jetstream(nc);
    const inbox = createInbox();
    const replies: Msg[] = [];
    const sub = nc.subscribe(`${inbox}.>`, {
      callback: (_error, msg) => {
        replies.push(msg);
      },
    });
    await js.publish(
      "bindings.durable.cache",
      JSON.stringify({ operation: "increment", metadata: { key: "silent" } }),
      { msgID: "silent-1" },
    );
    await expect.poll(() => direct.get("silent"), { timeout: 10_000 }).toBe("1");
    await expect
      .poll(async () => (await jsm.streams.info(STREAM)).state.messages, { timeout: 5_000 })
      .toBe(0);
    const consumer = await jsm.consumers.info(STREAM, "cache");
    expect(consumer.num_ack_pending).toBe(0);
    sub.unsubscribe();
    expect(replies).toEqual([]);
  });

  it("answers a 400-class request once and never delivers it again", async () => {
    const inbox = createInbox();
    const replies: Msg[] = [];
    const sub = nc.subscribe(inbox, {
      callback: (_error, msg) => {
        replies.push(msg);
      },
    });
    const letters: Msg[] = [];
    const dead = nc.subscribe("bindings.deadletter.cache", {
      callback: (_error, msg) => {
        letters.push(msg);
      },
    });
    const before = await jsm.consumers.info(STREAM, "cache");
    const headers = natsHeaders();
    headers.set("Binding-Reply-To", inbox);
    await jetstream(nc).publish(
      "bindings.durable.cache",
      JSON.stringify({ operation: "explode", metadata: { key: "k" } }),
      { msgID: "bad-1", headers },
    );
    await expect.poll(() => replies.length, { timeout: 10_000 }).toBe(1);
    const reply = readReply(replies[0] as Msg);
    expect(reply.status).toBe(400);
    expect(reply.json).toMatchObject({ errorCode: "ERR_UNSUPPORTED_OPERATION" });
    // Longer than processingTimeout and redeliverInterval: a redelivery would have come.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(replies).toHaveLength(1);
    expect(letters).toEqual([]);
    const after = await jsm.consumers.info(STREAM, "cache");
    expect(after.num_redelivered).toBe(before.num_redelivered);
    expect(after.num_ack_pending).toBe(0);
    expect((await jsm.streams.info(STREAM)).state.messages).toBe(0);
    sub.unsubscribe();
    dead.unsubscribe();
  });

  it('delivers again after redeliverInterval while Redis is down; with "0" answers 503 once and dead-letters', async () => {
    const letters: Msg[] = [];
    const dead = nc.subscribe("bindings.deadletter.once", {
      callback: (_error, msg) => {
        letters.push(msg);
      },
    });
    await nc.flush();
    const firstFailure = worker.logs.length;
    await redis.stop();
    const sentAt = Date.now();
    const retried = send(
      "cache",
      { operation: "increment", metadata: { key: "outage" } },
      {
        msgId: "outage-1",
      },
    );
    const once = await send(
      "once",
      { operation: "increment", metadata: { key: "outage-once" } },
      {
        msgId: "outage-once-1",
      },
    );
    expect(once.status).toBe(503);
    expect(once.json).toMatchObject({ errorCode: "ERR_BINDING_UNAVAILABLE" });
    await expect.poll(() => letters.length, { timeout: 5_000 }).toBe(1);
    const letter = letters[0] as Msg;
    expect(letter.headers?.get(DEAD_LETTER_HEADERS.errorCode)).toBe("503");
    expect(letter.headers?.get(DEAD_LETTER_HEADERS.deliveries)).toBe("1");
    expect(letter.headers?.get(DEAD_LETTER_HEADERS.subject)).toBe("bindings.durable.once");
    expect(letter.headers?.get("Nats-Msg-Id")).toBe("outage-once-1");
    expect(JSON.parse(letter.string())).toEqual({
      operation: "increment",
      metadata: { key: "outage-once" },
    });
    // Stored by the stream that captures the dead-letter subjects.
    expect((await jsm.streams.info("dead-letters")).state.messages).toBe(1);

    await new Promise((resolve) => setTimeout(resolve, 2_000 - (Date.now() - sentAt)));
    await redis.start();
    const reply = await retried;
    const answeredAt = Date.now();
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ data: 1 });
    expect(await direct.get("outage")).toBe("1");
    // Not delivered again: the "0" binding's request never reached Redis.
    expect(await direct.get("outage-once")).toBeNull();

    const failures = worker.logs
      .slice(firstFailure)
      .filter((line) => line.msg === "durable request failed; delivering again later");
    expect(failures.length).toBeGreaterThanOrEqual(1);
    const gaps = failures.slice(1).map((line, index) => logTime(line) - logTime(failures[index]));
    const lastFailure = logTime(failures.at(-1));
    // Each redelivery came about redeliverInterval (1.5 s) after the failure before it.
    for (const gap of [...gaps, answeredAt - lastFailure]) {
      expect(gap).toBeGreaterThanOrEqual(1_400);
      expect(gap).toBeLessThan(3_000);
    }
    console.log(
      `durable: redeliverInterval 1500ms; failures at +${failures.map((line) => logTime(line) - sentAt).join("ms, +")}ms; ` +
        `answered +${answeredAt - sentAt}ms, ${answeredAt - lastFailure}ms after the last failure`,
    );
    dead.unsubscribe();
  });

  it("reports the consumer's counts in $SRV.STATS and the durable subject in $SRV.INFO", async () => {
    const info = (
      await nc.request(`$SRV.INFO.redis-binding.${worker.worker.discoveryId}`, "", {
        timeout: 2_000,
      })
    ).json<{ endpoints: { name: string; metadata: Record<string, string> }[] }>();
    expect(info.endpoints.find((e) => e.name === "cache")?.metadata.durable_subject).toBe(
      "bindings.durable.cache",
    );
    const stats = (
      await nc.request(`$SRV.STATS.redis-binding.${worker.worker.discoveryId}`, "", {
        timeout: 5_000,
      })
    ).json<{ endpoints: { name: string; data?: { durable: Record<string, unknown> } }[] }>();
    const durable = stats.endpoints.find((e) => e.name === "cache")?.data?.durable;
    expect(durable).toMatchObject({
      stream: STREAM,
      consumer: "cache",
      pulling: true,
      num_pending: 0,
      num_ack_pending: 0,
    });
    // Redelivered and still pending: none once everything is settled.
    expect(durable?.num_redelivered).toBe(0);
    const counts = (durable?.worker ?? {}) as Record<string, number>;
    expect(counts.terminated).toBe(1);
    expect(counts.acked).toBeGreaterThanOrEqual(7);
    expect(counts.retried).toBeGreaterThanOrEqual(1);
  });

  it("applies each request id once in Redis and replays the recorded outcome", async () => {
    const client = direct as unknown as ScriptedClient;
    const once = new IdempotentExecutor(
      "cache",
      { pick: () => client },
      { maxRetries: 0, minBackoffMs: 0, maxBackoffMs: 0 },
      60_000,
    );
    const increment = {
      operation: "increment" as const,
      key: "x{}y}",
      value: undefined,
      ttlMs: undefined,
      deleteAfterRead: false,
    };
    expect(await once.execute(increment, "id-1")).toEqual({
      outcome: { kind: "counter", value: "1" },
      replayed: false,
    });
    expect(await once.execute(increment, "id-1")).toEqual({
      outcome: { kind: "counter", value: "1" },
      replayed: true,
    });
    expect(await once.execute(increment, "id-2")).toMatchObject({ replayed: false });
    expect(await direct.get("x{}y}")).toBe("2");

    // Counters beyond 2^53 stay exact.
    await direct.set("big", "9007199254740993");
    expect(await once.execute({ ...increment, key: "big" }, "id-3")).toMatchObject({
      outcome: { value: "9007199254740994" },
    });

    // get-with-delete: the second delivery still gets the value it took.
    await direct.set("user:{7}:token", "secret");
    const take = {
      ...increment,
      operation: "get" as const,
      key: "user:{7}:token",
      deleteAfterRead: true,
    };
    const first = await once.execute(take, "id-4");
    expect(first.outcome).toEqual({ kind: "value", bytes: Buffer.from("secret") });
    expect(await once.execute(take, "id-4")).toEqual({ outcome: first.outcome, replayed: true });
    expect(await direct.exists("user:{7}:token")).toBe(0);

    // The record lives in the data key's slot and expires.
    const ttl = await direct.pttl("rbw:applied:{7}:cache:id-4");
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    // A conflict applies nothing and records nothing.
    await direct.set("text", "abc");
    await expect(once.execute({ ...increment, key: "text" }, "id-5")).rejects.toMatchObject({
      status: 409,
    });
    expect(await direct.exists("rbw:applied:{text}:cache:id-5")).toBe(0);
  });
});

describe("durable intake without JetStream", () => {
  it("logs one warning and serves the direct subjects", async () => {
    const [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    const nc = await connect({ servers: nats.url });
    const worker = await startTestWorker({
      natsUrl: nats.url,
      components: [redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` })],
    });
    try {
      const warnings = worker.logs.filter((line) =>
        String(line.msg).startsWith("durable intake off"),
      );
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: "warn" });
      const reply = await request(nc, "bindings.cache", {
        operation: "increment",
        metadata: { key: "k" },
      });
      expect(reply.json).toEqual({ data: 1 });
    } finally {
      await worker.stop();
      await nc.close();
      await Promise.all([nats.close(), redis.close()]);
    }
  });

  it("stays off with BINDINGS_DURABLE=false even where JetStream runs", async () => {
    const [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    const nc = await connect({ servers: nats.url });
    const worker = await startTestWorker({
      natsUrl: nats.url,
      env: { BINDINGS_DURABLE: "false" },
      components: [redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` })],
    });
    try {
      const jsm = await jetstreamManager(nc);
      const streams = await jsm.streams.names().next();
      expect(streams).toEqual([]);
      expect(worker.logs.some((line) => String(line.msg).startsWith("durable"))).toBe(false);
    } finally {
      await worker.stop();
      await nc.close();
      await Promise.all([nats.close(), redis.close()]);
    }
  });
});

async function waitForLogs(
  worker: TestWorker,
  match: (line: Record<string, unknown>) => boolean,
  count: number,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (worker.logs.filter(match).length < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} log lines matched in time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The logger writes ISO times. */
function logTime(line: Record<string, unknown> | undefined): number {
  return Date.parse(String(line?.time));
}
