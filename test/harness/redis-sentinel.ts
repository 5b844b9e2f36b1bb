import { randomBytes } from "node:crypto";
import { makeTempDir, waitUntil } from "./process.js";
import { createTestCertificates, type RedisServer, type RedisTlsFiles } from "./redis.js";
import { redisServer } from "./servers.js";

export interface RedisSentinelOptions {
  /** The name Sentinel monitors the master under. */
  masterName?: string;
  /** Sentinels (quorum is a majority of them). */
  sentinels?: number;
  /** Sentinel's down-after-milliseconds: how long a silent master lasts before failover. */
  downAfterMs?: number;
  /** Everything over TLS only (clients, replication, Sentinels), with one throw-away CA. */
  tls?: boolean;
  /**
   * The Sentinels refuse clients that do not authenticate. With `password` alone it is
   * Sentinel's `requirepass` (the default user). With `username` too, that name is an ACL user
   * with `password`, and the default user gets a password of the harness's own: a client that
   * sends the right password without the name is refused as well.
   */
  sentinelAuth?: { readonly password: string; readonly username?: string };
  /**
   * Master and replica require this password (`requirepass`, and `masterauth` for replication);
   * the Sentinels are given it (`sentinel auth-pass`) to monitor them and to run a failover.
   */
  dataPassword?: string;
}

export interface RedisSentinelGroup {
  readonly masterName: string;
  readonly downAfterMs: number;
  /** The master and the replica as started; after a failover their roles swap. */
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinels: readonly RedisServer[];
  /** "127.0.0.1:p1,..." of the Sentinels, as a component's redisHost. */
  readonly sentinelHosts: string;
  /** Certificates in use with `tls`. */
  readonly tls: RedisTlsFiles | undefined;
  /** As given: what a client must send to the Sentinels. */
  readonly sentinelAuth: RedisSentinelOptions["sentinelAuth"];
  /** As given: what a client must send to master and replica. */
  readonly dataPassword: string | undefined;
  /** The master's port as the Sentinels report it now. */
  masterPort(): Promise<number>;
  /** Kills the current master the way a crash would (no waiting for replicas). */
  crashMaster(): Promise<RedisServer>;
  close(): Promise<void>;
}

/**
 * A master, one replica and (by default) three Sentinels, all local
 * redis-server processes on free ports. Resolves once every Sentinel knows
 * the replica and the other Sentinels, so a failover can be authorised.
 */
export async function startRedisSentinel(
  options: RedisSentinelOptions = {},
): Promise<RedisSentinelGroup> {
  const masterName = options.masterName ?? "mymaster";
  const count = options.sentinels ?? 3;
  const downAfterMs = options.downAfterMs ?? 1000;
  const quorum = Math.floor(count / 2) + 1;
  const started: RedisServer[] = [];
  const tls = options.tls
    ? await createTestCertificates(`${await makeTempDir("redis-sentinel-tls")}/tls`)
    : undefined;
  // Replicas and Sentinels reach the master over TLS too.
  const tlsServer = tls
    ? { tls: { ...tls, authClients: "no" as const }, tlsArgs: ["--tls-replication", "yes"] }
    : { tlsArgs: [] };
  const withTls = (args: string[]) => ({
    args: [...args, ...tlsServer.tlsArgs],
    ...(tlsServer.tls ? { tls: tlsServer.tls } : {}),
  });
  const track = (server: RedisServer) => {
    started.push(server);
    return server;
  };
  const { sentinelAuth, dataPassword } = options;
  // Master and replica alike: either may be the master after a failover.
  // A replica's first sync starts at once, not after Redis 7's default 5 s wait for more replicas.
  const dataNode = (moreArgs: string[]) => {
    const args = [...moreArgs, "--repl-diskless-sync-delay", "0"];
    return {
      ...withTls(dataPassword === undefined ? args : [...args, "--masterauth", dataPassword]),
      ...(dataPassword === undefined ? {} : { password: dataPassword }),
    };
  };
  // What the harness's own redis-cli (readiness, cli()) authenticates to the Sentinels with: the
  // default user's password. With a username that is a password of our own, not the client's.
  const sentinelAdminPassword =
    sentinelAuth === undefined
      ? undefined
      : sentinelAuth.username === undefined
        ? sentinelAuth.password
        : `harness-${randomBytes(12).toString("hex")}`;
  try {
    // Any argument makes the harness start a server of its own (never one from TEST_REDIS_URL).
    const master = track(await redisServer(dataNode(["--appendonly", "no"])));
    const replica = track(
      await redisServer(dataNode(["--replicaof", master.host, String(master.port)])),
    );
    await waitUntil(
      async () => (await replica.cli("INFO", "replication")).includes("master_link_status:up"),
      { timeoutMs: 20_000, intervalMs: 100, what: "the replica to sync" },
    );
    const config = [
      `sentinel monitor ${masterName} ${master.host} ${master.port} ${quorum}`,
      `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
      `sentinel failover-timeout ${masterName} 10000`,
      `sentinel parallel-syncs ${masterName} 1`,
      ...(dataPassword === undefined ? [] : [`sentinel auth-pass ${masterName} ${dataPassword}`]),
      ...(sentinelAdminPassword === undefined
        ? []
        : [
            // requirepass comes from the `password` below; Sentinels vote over connections to
            // one another, so they authenticate to each other with it too.
            `sentinel sentinel-pass ${sentinelAdminPassword}`,
          ]),
      ...(sentinelAuth?.username === undefined
        ? []
        : // Commands, keys and Pub/Sub channels (a client follows +switch-master).
          [`user ${sentinelAuth.username} on >${sentinelAuth.password} ~* &* +@all`]),
      "",
    ].join("\n");
    const sentinels = await Promise.all(
      Array.from({ length: count }, () =>
        redisServer({
          config,
          ...withTls(["--sentinel"]),
          ...(sentinelAdminPassword === undefined ? {} : { password: sentinelAdminPassword }),
        }),
      ),
    );
    for (const sentinel of sentinels) track(sentinel);
    await waitUntil(
      async () => {
        for (const sentinel of sentinels) {
          const fields = (await sentinel.cli("SENTINEL", "MASTER", masterName)).split("\n");
          const value = (name: string) => fields[fields.indexOf(name) + 1];
          if (Number(value("num-slaves")) < 1) return false;
          if (Number(value("num-other-sentinels")) < count - 1) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: "the Sentinels to find each other" },
    );
    const group: RedisSentinelGroup = {
      masterName,
      downAfterMs,
      master,
      replica,
      sentinels,
      sentinelHosts: sentinels.map((sentinel) => `${sentinel.host}:${sentinel.port}`).join(","),
      tls,
      sentinelAuth,
      dataPassword,
      async masterPort() {
        const reply = await (sentinels[0] as RedisServer).cli(
          "SENTINEL",
          "GET-MASTER-ADDR-BY-NAME",
          masterName,
        );
        return Number(reply.split("\n")[1]);
      },
      async crashMaster() {
        const port = await group.masterPort();
        const current = port === master.port ? master : replica;
        // SHUTDOWN NOW: no save, no waiting for replicas to catch up.
        await current.cli("SHUTDOWN", "NOSAVE", "NOW").catch(() => "");
        await current.stop();
        return current;
      },
      async close() {
        await Promise.allSettled(started.map((server) => server.close()));
      },
    };
    return group;
  } catch (error) {
    await Promise.allSettled(started.map((server) => server.close()));
    throw error;
  }
}
