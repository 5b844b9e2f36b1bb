import { readFile } from "node:fs/promises";
import type { AccessToken } from "@azure/identity";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import { type RedisCluster, startRedisCluster } from "../harness/redis-cluster.js";
import { natsServer } from "../harness/servers.js";
import { RotatingCredential } from "../support/fake-entra-credential.js";
import { request } from "../support/requests.js";
import { redisComponent, startTestWorker, type TestWorker } from "../support/worker.js";

/** The default user needs a password, as on Azure: only the token's user gets in. */
const ADMIN_PASSWORD = "admin-only";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Entra ID on a TLS Redis Cluster: ioredis keeps one connection per node and
 * makes new ones as the slot map changes; every one of them must take each
 * new token, and connections made after a rotation must start with it.
 */
describe("Entra ID on a Redis Cluster", () => {
  let nats: NatsServer;
  let cluster: RedisCluster;
  let worker: TestWorker;
  let nc: NatsConnection;
  let credential: RotatingCredential;

  beforeAll(async () => {
    [nats, cluster] = await Promise.all([
      natsServer(),
      startRedisCluster({ tls: true, password: ADMIN_PASSWORD }),
    ]);
    nc = await connect({ servers: nats.url });
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    credential?.dispose();
    await Promise.all([nats?.close(), cluster?.close()]);
  });

  const stat = async (node: number, section: string, name: string) =>
    (await cluster.nodes[node]?.cli("INFO", section))
      ?.split(/\r?\n/)
      .find((line) => line.startsWith(`${name}:`));

  it("re-authenticates every node's connection at each rotation, with no failed request", async () => {
    credential = new RotatingCredential(cluster.nodes, "oid-cluster", 3000);
    await Promise.all(cluster.nodes.map((node) => node.cli("CONFIG", "RESETSTAT")));
    worker = await startTestWorker({
      natsUrl: nats.url,
      components: [
        redisComponent("shards", {
          redisHost: cluster.seeds,
          redisType: "cluster",
          enableTLS: "true",
          caCert: await readFile(cluster.tls?.caFile as string, "utf8"),
          useEntraID: "true",
          redisMaxRetries: "10",
        }),
      ],
      redis: { tokenCredential: () => credential },
    });

    const failures: string[] = [];
    let served = 0;
    let running = true;
    const lane = async (id: number) => {
      for (let n = 0; running; n++) {
        // Keys on every node.
        const key = `shard:${id}:${n % 60}`;
        const body =
          n % 2 === 0
            ? { operation: "create", metadata: { key }, data: n }
            : { operation: "get", metadata: { key } };
        const reply = await request(nc, "bindings.shards", body, { timeoutMs: 10_000 }).catch(
          (error: Error) => ({ status: 0, text: error.message }),
        );
        if (reply.status === 200) served++;
        else failures.push(`${reply.status} ${reply.text}`);
        await sleep(5);
      }
    };
    const lanes = Array.from({ length: 6 }, (_, id) => lane(id));

    await until(() => credential.issued.length >= 3, 15_000, "the second rotation");
    const previous = credential.issued[1] as AccessToken;
    await sleep(Math.max(0, previous.expiresOnTimestamp - Date.now()) + 200);
    // Every node drops the worker: ioredis makes new node connections, which
    // must carry the only token still accepted.
    for (const node of cluster.nodes) await node.cli("CLIENT", "KILL", "USER", credential.oid);
    await until(() => credential.issued.length >= 4, 15_000, "the third rotation");
    await sleep(1000);
    running = false;
    await Promise.all(lanes);

    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(200);
    for (const [index] of cluster.nodes.entries()) {
      const auth = await stat(index, "commandstats", "cmdstat_auth");
      expect(
        Number(/calls=(\d+)/.exec(auth ?? "")?.[1] ?? 0),
        `node ${index}`,
      ).toBeGreaterThanOrEqual(3);
      expect(auth).toMatch(/failed_calls=0/);
      expect(await stat(index, "errorstats", "errorstat_WRONGPASS")).toBeUndefined();
    }
  });
});

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
