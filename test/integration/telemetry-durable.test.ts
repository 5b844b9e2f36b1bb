import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { durableRequest } from "../../src/transport/durable/request.js";
import type { NatsServer } from "../harness/nats.js";
import { getFreePort } from "../harness/ports.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { readReply } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

/** The sum of every sample of `name` with these labels in Prometheus text. */
function total(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`))) {
      continue;
    }
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** The value of the one sample of `name` with these labels, undefined without one. */
function gauge(text: string, name: string, labels: Record<string, string>): number | undefined {
  const matching = text
    .split("\n")
    .filter(
      (line) =>
        line.startsWith(`${name}{`) &&
        Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`)),
    );
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match`);
  const line = matching[0];
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** Waits for a log line, e.g. "durable intake pulling" for one binding. */
async function logged(worker: TestWorker, msg: string, binding: string): Promise<void> {
  const giveUpAt = Date.now() + 20_000;
  while (!worker.logs.some((line) => line.msg === msg && line.binding === binding)) {
    if (Date.now() > giveUpAt) throw new Error(`no "${msg}" from binding ${binding}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** expect.poll as slow machines need it: the counts are refreshed every 5 s. */
const SLOW_POLL = { timeout: 45_000, interval: 250 };

/** Redeliveries of durable (JetStream) requests, as /metrics shows them. */
describe("durable delivery metrics", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let worker: TestWorker;
  let port: number;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    nc = await connect({ servers: nats.url });
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("cache", {
          redisHost: `${redis.host}:${redis.port}`,
          redeliverInterval: "300ms",
          processingTimeout: "5s",
          // 60 deliveries 300 ms apart outlast a Redis restart, even a
          // container's (the default 5 would give up after 1.5 s).
          maxDeliveries: "60",
        }),
      ],
      env: { HTTP_PORT: String(await getFreePort()) },
    });
    // The intake pulls once Redis has answered; wait for it as the durable suite does.
    const giveUpAt = Date.now() + 10_000;
    while (!worker.logs.some((line) => line.msg === "durable intake pulling")) {
      if (Date.now() > giveUpAt) throw new Error("the durable intake never started pulling");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    port = worker.worker.boundHttpPort ?? 0;
  });

  afterAll(async () => {
    await worker?.stop();
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

  it("counts every delivery after a request's first as a redelivery, and each delivery's outcome", async () => {
    await redis.stop();
    const replied = durableRequest(
      nc,
      "bindings.durable.cache",
      JSON.stringify({ operation: "increment", metadata: { key: "durable-counter" } }),
      { timeoutMs: 20_000 },
    );
    try {
      // At least one delivery fails while Redis is away and is put back.
      await expect
        .poll(async () =>
          total(await metrics(), "binding_durable_deliveries_total", { action: "retry" }),
        )
        .toBeGreaterThan(0);
    } finally {
      await redis.start();
    }
    expect(readReply(await replied).status).toBe(200);

    const text = await metrics();
    const retried = total(text, "binding_durable_deliveries_total", {
      binding: "cache",
      action: "retry",
    });
    expect(
      total(text, "binding_durable_deliveries_total", { binding: "cache", action: "ack" }),
    ).toBe(1);
    // One request: every delivery but its first was a redelivery.
    expect(total(text, "binding_redeliveries_total", { binding: "cache" })).toBe(retried);
  });
});

/**
 * The durable consumers' state as the server counts it (shared by every
 * worker): the gauges follow requests waiting to be delivered, requests
 * delivered and not yet acknowledged, and the redelivered ones among them.
 */
describe("durable consumer gauges", () => {
  let nats: NatsServer;
  /** Serves binding `queue`, whose intake pulls from the start. */
  let redisQueue: RedisServer;
  /** Serves binding `parked`: down when the worker starts, so that intake does not pull yet. */
  let redisParked: RedisServer;
  let nc: NatsConnection;
  let worker: TestWorker;
  let port: number;

  beforeAll(async () => {
    [nats, redisQueue, redisParked] = await Promise.all([
      natsServer({ jetstream: true }),
      redisServer(),
      redisServer(),
    ]);
    await redisParked.stop();
    nc = await connect({ servers: nats.url });
    const durable = { redeliverInterval: "1s", processingTimeout: "5s", maxDeliveries: "100" };
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("queue", { redisHost: `${redisQueue.host}:${redisQueue.port}`, ...durable }),
        redisComponent("parked", {
          redisHost: `${redisParked.host}:${redisParked.port}`,
          ...durable,
        }),
      ],
      env: { HTTP_PORT: String(await getFreePort()) },
      waitUntilServing: false,
    });
    await logged(worker, "durable intake pulling", "queue");
    port = worker.worker.boundHttpPort ?? 0;
  });

  afterAll(async () => {
    await worker?.stop();
    await nc?.close();
    await Promise.all([nats?.close(), redisQueue?.close(), redisParked?.close()]);
  });

  const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const MESSAGES = "binding_durable_consumer_messages";
  const REDELIVERED = "binding_durable_consumer_redelivered";
  const WAITING = "binding_durable_consumer_waiting_pulls";
  const increment = (binding: string) =>
    durableRequest(
      nc,
      `bindings.durable.${binding}`,
      JSON.stringify({ operation: "increment", metadata: { key: `${binding}-counter` } }),
      { timeoutMs: 120_000 },
    );

  it("reports every binding's consumer, idle at first, with the worker's open pull", async () => {
    await expect
      .poll(async () => {
        const text = await metrics();
        return [
          gauge(text, MESSAGES, { binding: "queue", state: "pending" }),
          gauge(text, MESSAGES, { binding: "queue", state: "ack_pending" }),
          gauge(text, REDELIVERED, { binding: "queue" }),
          gauge(text, MESSAGES, { binding: "parked", state: "pending" }),
          gauge(text, MESSAGES, { binding: "parked", state: "ack_pending" }),
          gauge(text, REDELIVERED, { binding: "parked" }),
          gauge(text, WAITING, { binding: "parked" }),
        ];
      }, SLOW_POLL)
      .toEqual([0, 0, 0, 0, 0, 0, 0]);
    // `queue` pulls: its pull request waits at the server between requests.
    await expect
      .poll(async () => gauge(await metrics(), WAITING, { binding: "queue" }) ?? 0, SLOW_POLL)
      .toBeGreaterThan(0);
  }, 120_000);

  it("counts requests not yet delivered, delivered and unacknowledged, and redelivered, then none once answered", async () => {
    const replies: Promise<unknown>[] = [];
    // Keeps a failed test from leaving unhandled rejections behind.
    const track = <T>(reply: Promise<T>) => {
      replies.push(reply);
      reply.catch(() => {});
      return reply;
    };
    await redisQueue.stop();
    try {
      // Nobody pulls `parked`: its requests wait in the stream.
      for (let i = 0; i < 4; i++) track(increment("parked"));
      // `queue`'s are taken, fail while its Redis is away and are handed back
      // for a redelivery: delivered, still unacknowledged.
      for (let i = 0; i < 3; i++) track(increment("queue"));
      await expect
        .poll(async () => {
          const text = await metrics();
          return [
            gauge(text, MESSAGES, { binding: "parked", state: "pending" }),
            gauge(text, MESSAGES, { binding: "parked", state: "ack_pending" }),
            gauge(text, MESSAGES, { binding: "queue", state: "pending" }),
            gauge(text, MESSAGES, { binding: "queue", state: "ack_pending" }),
          ];
        }, SLOW_POLL)
        .toEqual([4, 0, 0, 3]);
      // Each of them is delivered again after redeliverInterval, failing again.
      await expect
        .poll(async () => gauge(await metrics(), REDELIVERED, { binding: "queue" }), SLOW_POLL)
        .toBe(3);
    } finally {
      await Promise.all([redisQueue.start(), redisParked.start()]);
    }

    const answered = await Promise.all(replies);
    expect(answered.map((msg) => readReply(msg as Msg).status)).toEqual(Array(7).fill(200));
    await expect
      .poll(async () => {
        const text = await metrics();
        return ["queue", "parked"].flatMap((binding) => [
          gauge(text, MESSAGES, { binding, state: "pending" }),
          gauge(text, MESSAGES, { binding, state: "ack_pending" }),
          gauge(text, REDELIVERED, { binding }),
        ]);
      }, SLOW_POLL)
      .toEqual([0, 0, 0, 0, 0, 0]);
  }, 240_000);
});

/** Without JetStream there is no durable consumer, and no series for one. */
describe("durable consumer gauges without JetStream", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let worker: TestWorker;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [redisComponent("cache", { redisHost: `${redis.host}:${redis.port}` })],
      env: { HTTP_PORT: String(await getFreePort()) },
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it("serves /metrics without binding_durable_consumer_* series", async () => {
    const port = worker.worker.boundHttpPort ?? 0;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain("binding_invocations_in_flight{");
    expect(text).not.toMatch(/^binding_durable_consumer_/m);
  });
});
