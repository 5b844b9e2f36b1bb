import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSuccess, kindOf, startLoad, verify } from "../faults/support/load.js";
import { reportRow } from "../faults/support/report.js";
import {
  callerConnection,
  launchWorker,
  sleep,
  type WorkerHandle,
} from "../faults/support/stack.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";

const DEADLINE_MS = 1500;
const SLACK_MS = 2000;

/**
 * Redis stops answering for 4 s (CLIENT PAUSE ... ALL) under steady traffic:
 * every request gets its 504 inside the deadline rather than hanging, and the
 * worker serves normally once Redis answers again.
 */
describe("fault: Redis slowed by CLIENT PAUSE", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let worker: WorkerHandle;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    worker = await launchWorker({
      natsUrl: nats.url,
      redisHost: `${redis.host}:${redis.port}`,
      env: { REQUEST_TIMEOUT: `${DEADLINE_MS}ms` },
    });
    nc = await callerConnection(nats.url);
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.dispose();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it("answers 504 inside the deadline while Redis is paused, never hangs", async () => {
    const load = startLoad({ nc, subject: "bindings.cache", runId: "slow", timeoutMs: 15_000 });
    await sleep(1000);
    const pause = new Redis({ host: redis.host, port: redis.port });
    await pause.call("CLIENT", "PAUSE", "4000", "ALL");
    const pausedAt = Date.now();
    pause.disconnect();
    // Requests sent in the first 2 s of the pause reach their deadline before Redis answers.
    await sleep(2000);
    const lateAt = Date.now();
    await sleep(2000 + 2500);
    const ledger = await load.stop();

    const direct = new Redis({ host: redis.host, port: redis.port });
    const verdict = await verify(ledger, direct).finally(() => direct.disconnect());
    const paused = ledger.where((e) => e.sentAt >= pausedAt && e.sentAt < lateAt);
    const slowest = Math.max(0, ...ledger.entries.map((e) => e.doneAt - e.sentAt));
    const after = ledger.where((e) => e.sentAt >= pausedAt + 4500);
    // A connection silent for readTimeout + 1 s is dropped and redialled (go-redis does the
    // same); requests that arrive while it is redialled get a quick 503, not a hang.
    const unavailable = ledger.where((e) => kindOf(e.result) === "503");
    reportRow({
      scenario: "Redis slowed (CLIENT PAUSE 4 s)",
      requests: ledger.sent,
      replies: ledger.byKind(),
      lost: verdict.lost,
      doubleApplied: verdict.doubleApplied,
      notes: `sent while paused ${paused.length}: ${JSON.stringify(ledger.byKind(paused))}; slowest reply ${slowest} ms (deadline ${DEADLINE_MS} ms); 503 while the silent connection was redialled: ${unavailable.length}; failed-but-applied ${verdict.appliedDespiteFailure}`,
    });

    expect(verdict.problems).toEqual([]);
    expect(paused.length).toBeGreaterThan(0);
    expect(paused.map((e) => kindOf(e.result)).filter((k) => k !== "504")).toEqual([]);
    expect(slowest).toBeLessThanOrEqual(DEADLINE_MS + SLACK_MS);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every(isSuccess)).toBe(true);
  });
});
