import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import { type RedisCluster, startRedisCluster } from "../harness/redis-cluster.js";
import { natsServer } from "../harness/servers.js";
import { type BindingReply, request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

/**
 * `redisType: cluster` against a real 3-master Redis Cluster: every operation
 * on keys spread over all slots, and a live reshard (MIGRATE, ASK, MOVED)
 * under steady increments. GETDEL is renamed away on the nodes so `get` with
 * `delete` takes the Lua fallback, which must run on the key's node too.
 */
describe("Redis Cluster", () => {
  let nats: NatsServer;
  let cluster: RedisCluster;
  let worker: TestWorker;
  let nc: NatsConnection;
  let direct: Cluster;
  const subject = "bindings.shards";

  beforeAll(async () => {
    [nats, cluster] = await Promise.all([
      natsServer(),
      startRedisCluster({ args: ["--rename-command", "GETDEL", ""] }),
    ]);
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("shards", {
          redisHost: cluster.seeds,
          redisType: "cluster",
          redisMaxRetries: "3",
        }),
      ],
      env: { MAX_IN_FLIGHT: "4096" },
    });
    nc = await connect({ servers: nats.url });
    direct = new Cluster(cluster.nodes.map(({ host, port }) => ({ host, port })));
  });

  afterAll(async () => {
    await nc?.close();
    direct?.disconnect();
    await worker?.stop();
    await Promise.all([nats?.close(), cluster?.close()]);
  });

  const call = (body: unknown) => request(nc, subject, body, { timeoutMs: 20_000 });

  /** Runs `work` for 0..count-1, at most `width` at a time. */
  async function inBatches<T>(count: number, width: number, work: (index: number) => Promise<T>) {
    const results: T[] = [];
    for (let start = 0; start < count; start += width) {
      const batch = Array.from({ length: Math.min(width, count - start) }, (_, offset) =>
        work(start + offset),
      );
      results.push(...(await Promise.all(batch)));
    }
    return results;
  }

  const failures = (replies: BindingReply[]) =>
    replies.filter((reply) => reply.status !== 200).map((reply) => reply.text);

  it("serves every operation on 1 000 keys spread over all masters", async () => {
    const count = 1000;
    const created = await inBatches(count, 250, (i) =>
      call({
        operation: "create",
        metadata: i % 2 === 0 ? { key: `key:${i}`, ttlInSeconds: "600" } : { key: `key:${i}` },
        data: { i },
      }),
    );
    expect(failures(created)).toEqual([]);
    // The keys really are spread: every master holds some.
    for (const node of cluster.nodes) {
      expect(Number(await node.cli("DBSIZE"))).toBeGreaterThan(count / 10);
    }
    const read = await inBatches(count, 250, (i) =>
      call({ operation: "get", metadata: { key: `key:${i}` } }),
    );
    read.forEach((reply, i) => {
      expect(reply.json).toEqual({ data: { i } });
    });
    expect(await direct.pttl("key:0")).toBeGreaterThan(590_000);
    expect(await direct.ttl("key:1")).toBe(-1);

    // increment: plain INCR for odd keys, the INCR+PEXPIRE script for even ones.
    for (const expected of [1, 2]) {
      const counted = await inBatches(count, 250, (i) =>
        call({
          operation: "increment",
          metadata: i % 2 === 0 ? { key: `n:${i}`, ttl: "10m" } : { key: `n:${i}` },
        }),
      );
      counted.forEach((reply) => {
        expect(reply.json).toEqual({ data: expected });
      });
    }
    expect(await direct.pttl("n:0")).toBeGreaterThan(590_000);
    expect(await direct.ttl("n:1")).toBe(-1);
    // Exact beyond 2^53, with and without a TTL.
    await direct.set("huge", "9223372036854775805");
    expect((await call({ operation: "increment", metadata: { key: "huge" } })).json).toEqual({
      data: "9223372036854775806",
    });
    expect(
      (await call({ operation: "increment", metadata: { key: "huge", ttl: "1m" } })).json,
    ).toEqual({ data: "9223372036854775807" });

    // get + delete through the Lua fallback (GETDEL is renamed away here).
    expect(await cluster.nodes[0]?.cli("GETDEL", "x")).toMatch(/unknown command/i);
    const taken = await inBatches(count / 2, 250, (i) =>
      call({ operation: "get", metadata: { key: `key:${i}`, delete: "true" } }),
    );
    taken.forEach((reply, i) => {
      expect(reply.json).toEqual({ data: { i } });
    });
    const deleted = await inBatches(count / 2, 250, (i) =>
      call({ operation: "delete", metadata: { key: `key:${count / 2 + i}` } }),
    );
    expect(failures(deleted)).toEqual([]);
    const remaining = await Promise.all(
      Array.from({ length: count }, (_, i) => direct.exists(`key:${i}`)),
    );
    expect(remaining.reduce((sum, exists) => sum + exists, 0)).toBe(0);
  });

  it("keeps serving while slots migrate, counting every increment exactly once", async () => {
    const keys = Array.from({ length: 500 }, (_, i) => `moving:${i}`);
    const succeeded = new Map<string, number>();
    const failed: string[] = [];
    let running = true;
    let sent = 0;

    const loop = async (seed: number) => {
      for (let n = seed; running; n += 7) {
        const key = keys[n % keys.length] as string;
        sent++;
        const reply = await call({ operation: "increment", metadata: { key } });
        if (reply.status === 200) succeeded.set(key, (succeeded.get(key) ?? 0) + 1);
        else failed.push(reply.text);
      }
    };
    const loops = Array.from({ length: 40 }, (_, seed) => loop(seed));

    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = await Promise.all(cluster.nodes.map((node) => node.cli("DBSIZE")));
    await cluster.reshard(0, 1, 800);
    await cluster.waitHealthy();
    await new Promise((resolve) => setTimeout(resolve, 500));
    running = false;
    await Promise.all(loops);
    const after = await Promise.all(cluster.nodes.map((node) => node.cli("DBSIZE")));

    // Keys in use really moved, and requests ran before, during and after.
    expect(after).not.toEqual(before);
    expect(sent).toBeGreaterThan(1000);
    expect(failed).toEqual([]);
    const stored = await Promise.all(keys.map((key) => direct.get(key)));
    keys.forEach((key, i) => {
      expect(Number(stored[i] ?? 0), key).toBe(succeeded.get(key) ?? 0);
    });
  });
});
