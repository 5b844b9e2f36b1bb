import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { startTcpProxy, type TcpProxy } from "../harness/tcp-proxy.js";
import { isSuccess, kindOf, startLoad, verify } from "./support/load.js";
import { reportRow } from "./support/report.js";
import { callerConnection, launchWorker, sleep, type WorkerHandle } from "./support/stack.js";

const DEADLINE_MS = 3000;
/** Generous room for a loaded two-core machine on top of a deadline. */
const SLACK_MS = 2000;

/**
 * The line between worker and Redis cut for 5 s (every connection reset, new
 * ones refused) and then restored, under steady traffic: the worker stays up,
 * answers 503/504 within the deadline while cut, and succeeds again soon after.
 */
describe("fault: line to Redis cut", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let proxy: TcpProxy;
  let nc: NatsConnection;
  let worker: WorkerHandle;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    proxy = await startTcpProxy(redis.host, redis.port);
    worker = await launchWorker({
      natsUrl: nats.url,
      redisHost: `${proxy.host}:${proxy.port}`,
      env: { REQUEST_TIMEOUT: `${DEADLINE_MS}ms` },
    });
    nc = await callerConnection(nats.url);
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.dispose();
    await proxy?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it("answers 503/504 within the deadline while cut, succeeds again within 2 s of restore", async () => {
    const load = startLoad({ nc, subject: "bindings.cache", runId: "cut", timeoutMs: 15_000 });
    await sleep(1500);
    const cutAt = Date.now();
    proxy.cut();
    await sleep(1000);
    const readyWhileCut = await worker.readyz();
    await sleep(4000);
    const restoredAt = Date.now();
    proxy.restore();
    await sleep(3000);
    const ledger = await load.stop();
    const readyAfter = await worker.readyz();

    const direct = new Redis({ host: redis.host, port: redis.port });
    const verdict = await verify(ledger, direct).finally(() => direct.disconnect());
    const whileCut = ledger.where((e) => e.sentAt >= cutAt && e.sentAt < restoredAt);
    const slowest = Math.max(0, ...whileCut.map((e) => e.doneAt - e.sentAt));
    const firstSuccess = Math.min(
      ...ledger.where((e) => e.sentAt >= restoredAt && isSuccess(e)).map((e) => e.doneAt),
    );
    const recoveryMs = firstSuccess - restoredAt;
    reportRow({
      scenario: "Redis line cut 5 s, then restored",
      requests: ledger.sent,
      replies: ledger.byKind(),
      lost: verdict.lost,
      doubleApplied: verdict.doubleApplied,
      notes: `while cut ${whileCut.length} sent: ${JSON.stringify(ledger.byKind(whileCut))}, slowest ${slowest} ms (deadline ${DEADLINE_MS} ms); first success ${recoveryMs} ms after restore; missing writes ${verdict.missingWrites}`,
    });

    expect(worker.proc.child.exitCode).toBeNull();
    expect(verdict.problems).toEqual([]);
    expect(whileCut.length).toBeGreaterThan(0);
    expect(whileCut.map((e) => kindOf(e.result)).filter((k) => k !== "503" && k !== "504")).toEqual(
      [],
    );
    expect(slowest).toBeLessThanOrEqual(DEADLINE_MS + SLACK_MS);
    expect(recoveryMs).toBeLessThanOrEqual(2000);
    expect(readyWhileCut.status).toBe(503);
    expect(readyAfter.status).toBe(200);
  });
});
