import { connect, type NatsConnection } from "@nats-io/transport-node";
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
