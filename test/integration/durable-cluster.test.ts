import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IdempotentExecutor } from "../../src/redis/idempotent.js";
import type { ScriptedClient } from "../../src/redis/scripts.js";
import { durableRequest } from "../../src/transport/durable/request.js";
import type { NatsServer } from "../harness/nats.js";
import { type RedisCluster, startRedisCluster } from "../harness/redis-cluster.js";
import { natsServer } from "../harness/servers.js";
import { readReply } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

/**
 * The once-per-request scripts touch the data key and its record together:
 * on a Redis Cluster both must hash to one slot, or Redis refuses the script
 * with CROSSSLOT. Keys with and without hash tags, and the awkward ones whose
 * hashed part contains `}`, over a real 3-master cluster.
 */
describe("durable requests on a Redis Cluster", () => {
  let nats: NatsServer;
  let cluster: RedisCluster;
  let worker: TestWorker;
  let nc: NatsConnection;
  let direct: Cluster;
  const KEYS = [
    "plain",
    "user:{42}:cart",
    "{a}{b}",
    "x{}y",
    "open{only",
    "a}b",
    "x{}y}",
    "}",
    ...Array.from({ length: 60 }, (_, i) => `spread:${i}`),
  ];

  beforeAll(async () => {
    [nats, cluster] = await Promise.all([natsServer({ jetstream: true }), startRedisCluster()]);
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("shards", {
          redisHost: cluster.seeds,
          redisType: "cluster",
          redisMaxRetries: "3",
        }),
      ],
    });
    nc = await connect({ servers: nats.url });
    direct = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })));
    const deadline = Date.now() + 10_000;
    while (!worker.logs.some((line) => line.msg === "durable intake pulling")) {
      if (Date.now() > deadline) throw new Error("durable intake not pulling");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  afterAll(async () => {
    await nc?.close();
    direct?.disconnect();
    await worker?.stop();
    await Promise.all([nats?.close(), cluster?.close()]);
  });

  const send = async (body: unknown) =>
    readReply(
      await durableRequest(nc, "bindings.durable.shards", JSON.stringify(body), {
        timeoutMs: 15_000,
      }),
    );

  it("runs every operation through the worker on keys of every shape", async () => {
    const created = await Promise.all(
      KEYS.map((key) => send({ operation: "create", metadata: { key }, data: { key } })),
    );
    expect(created.filter((reply) => reply.status !== 200).map((reply) => reply.text)).toEqual([]);
    const taken = await Promise.all(
      KEYS.map((key) => send({ operation: "get", metadata: { key, delete: "true" } })),
    );
    taken.forEach((reply, index) => {
      expect(reply.json).toEqual({ data: { key: KEYS[index] } });
    });
    const counted = await Promise.all(
      KEYS.map((key) => send({ operation: "increment", metadata: { key, ttlInSeconds: "60" } })),
    );
    expect(counted.map((reply) => reply.json)).toEqual(KEYS.map(() => ({ data: 1 })));
    const deleted = await Promise.all(
      KEYS.map((key) => send({ operation: "delete", metadata: { key } })),
    );
    expect(deleted.every((reply) => reply.status === 200)).toBe(true);
  });

  it("replays a recorded outcome from the data key's node", async () => {
    const once = new IdempotentExecutor(
      "shards",
      { pick: () => direct as unknown as ScriptedClient },
      { maxRetries: 3, minBackoffMs: 8, maxBackoffMs: 512 },
      60_000,
    );
    for (const key of ["a}b", "user:{42}:cart", "spread:7"]) {
      const increment = {
        operation: "increment" as const,
        key,
        value: undefined,
        ttlMs: undefined,
        deleteAfterRead: false,
      };
      const first = await once.execute(increment, `replay-${key}`);
      expect(await once.execute(increment, `replay-${key}`)).toEqual({
        outcome: first.outcome,
        replayed: true,
      });
      expect(await direct.get(key)).toBe("1");
    }
  });
});
