import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { makeTempDir, waitUntil } from "./process.js";
import {
  cliConnectionArgs,
  createTestCertificates,
  type RedisServer,
  type RedisTlsFiles,
} from "./redis.js";
import { findBinary, redisServer } from "./servers.js";

/** A reshard moves keys one MIGRATE batch at a time: far slower than the harness's 10 s cli(). */
const RESHARD_TIMEOUT_MS = 60_000;

export interface RedisClusterOptions {
  /** Master nodes (no replicas); 3 is the least `redis-cli --cluster create` accepts. */
  masters?: number;
  /** Serve TLS only, cluster bus included; every node shares one throw-away CA. */
  tls?: boolean;
  /** Extra redis-server arguments for every node. */
  args?: string[];
  /** The default user's password on every node (the harness's own redis-cli uses it). */
  password?: string;
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** "127.0.0.1:p1,127.0.0.1:p2,..." as a component's redisHost. */
  readonly seeds: string;
  /** Certificates in use with `tls`. */
  readonly tls: RedisTlsFiles | undefined;
  /** Each node's cluster id, in `nodes` order. */
  nodeIds(): Promise<string[]>;
  /**
   * Moves `slots` slots from one node to another with `redis-cli --cluster reshard`
   * (MIGRATE key by key; clients meet ASK and then MOVED meanwhile).
   */
  reshard(from: number, to: number, slots: number): Promise<void>;
  /** Resolves once every node reports cluster_state:ok and agrees on all 16384 slots. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const CLUSTER_ARGS = [
  "--cluster-enabled",
  "yes",
  // Relative to the node's own --dir, so nodes never share it.
  "--cluster-config-file",
  "nodes.conf",
  "--cluster-node-timeout",
  "3000",
];

/**
 * A Redis Cluster of local redis-server processes on free ports (cluster bus
 * on port + 10000, which the harness also checks is free). Needs the binaries:
 * nodes announce 127.0.0.1, which containers could not reach each other on.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const tls = options.tls
    ? await createTestCertificates(`${await makeTempDir("redis-cluster-tls")}/tls`)
    : undefined;
  const tlsArgs = tls ? ["--tls-cluster", "yes", "--tls-replication", "yes"] : [];
  const nodes: RedisServer[] = [];
  try {
    for (let index = 0; index < masters; index++) {
      const node = await redisServer({
        args: [...CLUSTER_ARGS, ...tlsArgs, ...(options.args ?? [])],
        ...(tls ? { tls: { ...tls, authClients: "no" as const } } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
      });
      nodes.push(node);
      if (node.source !== "binaries") {
        throw new Error(
          "a Redis Cluster needs redis-server and redis-cli on PATH (apt-get install -y redis-server redis-tools)",
        );
      }
    }
    const first = nodes[0] as RedisServer;
    const addresses = nodes.map((node) => `${node.host}:${node.port}`);
    const created = await first.cli(
      "--cluster",
      "create",
      ...addresses,
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    );
    if (!created.includes("[OK] All 16384 slots covered")) {
      throw new Error(`redis-cli --cluster create failed:\n${created}`);
    }
  } catch (error) {
    await Promise.allSettled(nodes.map((node) => node.close()));
    throw error;
  }

  const nodeIds = () => Promise.all(nodes.map((node) => node.cli("CLUSTER", "MYID")));
  const cluster: RedisCluster = {
    nodes,
    seeds: nodes.map((node) => `${node.host}:${node.port}`).join(","),
    tls,
    nodeIds,
    async reshard(from, to, slots) {
      const ids = await nodeIds();
      const source = nodes[from] as RedisServer;
      const cli = await findBinary("redis-cli");
      if (cli === undefined) throw new Error("redis-cli is not on PATH");
      const { stdout: output } = await promisify(execFile)(
        cli,
        [
          ...cliConnectionArgs(tls, options.password),
          "--cluster",
          "reshard",
          `${source.host}:${source.port}`,
          "--cluster-from",
          ids[from] as string,
          "--cluster-to",
          ids[to] as string,
          "--cluster-slots",
          String(slots),
          "--cluster-pipeline",
          "100",
          "--cluster-yes",
        ],
        { timeout: RESHARD_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      );
      if (/\[ERR\]/.test(output)) throw new Error(`reshard failed:\n${output}`);
    },
    async waitHealthy(timeoutMs = 20_000) {
      await waitUntil(
        async () => {
          for (const node of nodes) {
            const info = await node.cli("CLUSTER", "INFO");
            if (!info.includes("cluster_state:ok") || !info.includes("cluster_slots_ok:16384")) {
              return false;
            }
          }
          return true;
        },
        { timeoutMs, intervalMs: 100, what: "the cluster to be healthy" },
      );
    },
    async close() {
      await Promise.allSettled(nodes.map((node) => node.close()));
    },
  };
  await cluster.waitHealthy();
  return cluster;
}
