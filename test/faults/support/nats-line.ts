import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { durableRequest } from "../../../src/transport/durable/request.js";
import type { NatsServer } from "../../harness/nats.js";
import type { RedisServer } from "../../harness/redis.js";
import { natsServer, redisServer } from "../../harness/servers.js";
import { startTcpProxy, type TcpProxy } from "../../harness/tcp-proxy.js";
import { durableSender, type Ledger, startLoad, type Verdict, verify } from "./load.js";
import { callerConnection, launchWorker, type WorkerHandle } from "./stack.js";

/**
 * The set-up of the NATS line scenarios: one worker whose connection to
 * nats-server (JetStream on) runs through the harness's TCP proxy, so the
 * test can cut or silence that line alone, and a caller connected to the
 * server directly, as the services calling the binding would be.
 */
export interface NatsLineStack {
  readonly nats: NatsServer;
  readonly redis: RedisServer;
  readonly proxy: TcpProxy;
  readonly nc: NatsConnection;
  readonly worker: WorkerHandle;
  close(): Promise<void>;
}

export async function workerBehindNatsProxy(
  env: Record<string, string> = {},
): Promise<NatsLineStack> {
  const [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
  const proxy = await startTcpProxy(nats.host, nats.port);
  const worker = await launchWorker({
    natsUrl: `nats://${proxy.host}:${proxy.port}`,
    redisHost: `${redis.host}:${redis.port}`,
    // Short, so a durable request the fault caught mid-way is delivered
    // again inside the test.
    metadata: { processingTimeout: "3s", redeliverInterval: "500ms" },
    env: { REQUEST_TIMEOUT: "2s", ...env },
  });
  const nc = await callerConnection(nats.url);
  return {
    nats,
    redis,
    proxy,
    nc,
    worker,
    async close() {
      await nc.close();
      await worker.dispose();
      await proxy.close();
      await Promise.all([nats.close(), redis.close()]);
    },
  };
}

export interface BothSubjectsOptions {
  readonly runId: string;
  readonly lanes: number;
  readonly durableLanes?: number;
  /** The direct callers' wait for a reply. */
  readonly directTimeoutMs: number;
}

export interface BothSubjectsRun {
  /** Stops both loads and checks each ledger against Redis. */
  stop(redis: RedisServer): Promise<{
    direct: Ledger;
    durable: Ledger;
    directVerdict: Verdict;
    durableVerdict: Verdict;
  }>;
  readonly direct: { readonly ledger: Ledger };
}

/** Steady load on the direct and the durable subject of binding `cache` at once. */
export function loadBothSubjects(
  nc: NatsConnection,
  options: BothSubjectsOptions,
): BothSubjectsRun {
  const direct = startLoad({
    nc,
    subject: "bindings.cache",
    runId: `${options.runId}-direct`,
    lanes: options.lanes,
    timeoutMs: options.directTimeoutMs,
    pauseMs: 20,
  });
  const durable = startLoad({
    nc,
    subject: "bindings.durable.cache",
    runId: `${options.runId}-durable`,
    lanes: options.durableLanes ?? options.lanes,
    timeoutMs: 30_000,
    pauseMs: 20,
    sender: durableSender(nc, "bindings.durable.cache", 30_000, durableRequest),
  });
  return {
    direct,
    async stop(redis) {
      const [directLedger, durableLedger] = await Promise.all([direct.stop(), durable.stop()]);
      const client = new Redis({ host: redis.host, port: redis.port });
      const [directVerdict, durableVerdict] = await Promise.all([
        verify(directLedger, client),
        verify(durableLedger, client),
      ]).finally(() => client.disconnect());
      return { direct: directLedger, durable: durableLedger, directVerdict, durableVerdict };
    },
  };
}
