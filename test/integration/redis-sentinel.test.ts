import { readFile } from "node:fs/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import { type RedisSentinelGroup, startRedisSentinel } from "../harness/redis-sentinel.js";
import { natsServer } from "../harness/servers.js";
import { request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `failover: true`: the worker finds the master through three Sentinels and
 * follows it when the master crashes under steady traffic. Everything speaks
 * TLS only, so Sentinels and master must both be reached over TLS.
 */
describe("Redis Sentinel failover", () => {
  let nats: NatsServer;
  let group: RedisSentinelGroup;
  let worker: TestWorker;
  let nc: NatsConnection;
  const subject = "bindings.ha";

  beforeAll(async () => {
    [nats, group] = await Promise.all([
      natsServer(),
      startRedisSentinel({ downAfterMs: 1000, tls: true }),
    ]);
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("ha", {
          redisHost: group.sentinelHosts,
          failover: "true",
          sentinelMasterName: group.masterName,
          // Sentinels and data nodes alike speak TLS only.
          enableTLS: "true",
          caCert: await readFile(group.tls?.caFile as string, "utf8"),
        }),
      ],
    });
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await Promise.all([nats?.close(), group?.close()]);
  });

  it("serves again within down-after + 10 s of a master crash, keeping every replicated write", async () => {
    interface Write {
      readonly key: string;
      readonly value: number;
    }
    const acknowledged: Write[] = [];
    const failures: { at: number; status: number }[] = [];
    let lastSuccessAt = 0;
    let running = true;

    const loop = async (lane: number) => {
      for (let n = 0; running; n++) {
        const key = `w:${lane}:${n}`;
        const reply = await request(
          nc,
          subject,
          { operation: "create", metadata: { key }, data: n },
          { timeoutMs: 15_000 },
        ).catch(() => ({ status: 0 }));
        if (reply.status === 200) {
          acknowledged.push({ key, value: n });
          lastSuccessAt = Date.now();
          await sleep(2);
        } else {
          failures.push({ at: Date.now(), status: reply.status });
          await sleep(50);
        }
      }
    };
    const lanes = Array.from({ length: 8 }, (_, lane) => loop(lane));

    await sleep(1000);
    // Every write acknowledged before the marker is ordered before it in the
    // replication stream: once WAIT sees the marker replicated, they are too.
    const replicated = acknowledged.slice();
    const master = new Redis({
      host: group.master.host,
      port: group.master.port,
      tls: { ca: await readFile(group.tls?.caFile as string, "utf8") },
    });
    try {
      await master.set("marker", "1");
      expect(await master.call("WAIT", "1", "5000")).toBe(1);
    } finally {
      master.disconnect();
    }
    expect(replicated.length).toBeGreaterThan(100);
    expect(failures).toEqual([]);

    await group.crashMaster();
    const crashedAt = Date.now();
    const budgetMs = group.downAfterMs + 10_000;
    // Traffic runs until it has gone 2 s without a failure (or well past the budget).
    await waitFor(() => {
      const last = failures.at(-1)?.at ?? crashedAt;
      return lastSuccessAt > last && Date.now() - last > 2_000;
    }, budgetMs + 10_000);
    running = false;
    await Promise.all(lanes);

    expect(await group.masterPort()).toBe(group.replica.port);
    const lastFailure = failures.at(-1)?.at ?? crashedAt;
    expect(lastFailure - crashedAt).toBeLessThan(budgetMs);
    // Unavailable, never a crash or a misleading error.
    expect(failures.filter(({ status }) => status !== 503 && status !== 504)).toEqual([]);

    // Every write replicated before the crash is on the new master.
    for (let start = 0; start < replicated.length; start += 250) {
      const batch = replicated.slice(start, start + 250);
      const replies = await Promise.all(
        batch.map(({ key }) => request(nc, subject, { operation: "get", metadata: { key } })),
      );
      replies.forEach((reply, index) => {
        expect(reply.json, batch[index]?.key).toEqual({ data: batch[index]?.value });
      });
    }
    expect(worker.worker.readiness().ready).toBe(true);
  });
});

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(100);
}
