import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { isSuccess, startLoad, verify } from "./support/load.js";
import { reportRow } from "./support/report.js";
import { callerConnection, launchWorker, sleep, type WorkerHandle } from "./support/stack.js";

const NOT_IDEMPOTENT = new Set(["incr-once", "counter", "getdel"]);

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/**
 * Redis stopped for 3 s and started again, under steady traffic, with retry
 * settings that outlast the outage: every request is answered, and every
 * success is in Redis afterwards (the server keeps an fsynced AOF, so a
 * restart loses nothing that was acknowledged).
 */
describe("fault: Redis restarted", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let worker: WorkerHandle;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([
      natsServer(),
      redisServer({ args: ["--appendonly", "yes", "--appendfsync", "always"] }),
    ]);
    worker = await launchWorker({
      natsUrl: nats.url,
      redisHost: `${redis.host}:${redis.port}`,
      // Up to ~40 retries 100-500 ms apart: far more than a 3 s outage.
      metadata: {
        redisMaxRetries: "40",
        redisMinRetryInterval: "100ms",
        redisMaxRetryInterval: "500ms",
      },
      env: { REQUEST_TIMEOUT: "20s" },
    });
    nc = await callerConnection(nats.url);
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.dispose();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it("answers every request; every success is in Redis; nothing applied twice", async () => {
    const load = startLoad({ nc, subject: "bindings.cache", runId: "rr", timeoutMs: 30_000 });
    await sleep(1500);
    const stoppedAt = Date.now();
    await redis.stop();
    const downAt = Date.now();
    await sleep(3000);
    await redis.start();
    const startedAt = Date.now();
    await sleep(3000);
    const ledger = await load.stop();

    const direct = new Redis({ host: redis.host, port: redis.port });
    const verdict = await verify(ledger, direct).finally(() => direct.disconnect());
    const during = ledger.where((e) => e.sentAt >= stoppedAt && e.sentAt < startedAt);
    // Sent while Redis was up or going down, answered only after it was back:
    // these waited out the whole outage in the worker's retries.
    const carried = ledger.where(
      (e) => isSuccess(e) && e.sentAt <= downAt && e.doneAt >= startedAt,
    );
    const replies = ledger.byKind();
    const failures = ledger.where((e) => !isSuccess(e));
    const failedOperations = countBy(failures.map((e) => e.operation));
    reportRow({
      scenario: "Redis restarted (stop, 3 s, start), retries cover it",
      requests: ledger.sent,
      replies,
      lost: verdict.lost,
      doubleApplied: verdict.doubleApplied,
      notes: `sent during outage ${during.length} (${during.filter(isSuccess).length} succeeded after retries), ${carried.length} in flight across the whole outage and answered 200; missing writes ${verdict.missingWrites}, stale reads ${verdict.staleReads}, failed-but-applied ${verdict.appliedDespiteFailure}; failed: ${JSON.stringify(failedOperations)}`,
    });

    expect(verdict.problems).toEqual([]);
    expect(verdict.lost).toBe(0);
    expect(verdict.doubleApplied).toBe(0);
    expect(verdict.missingWrites).toBe(0);
    expect(replies["no-responders"] ?? 0).toBe(0);
    expect(replies.error ?? 0).toBe(0);
    // The retries carried requests across the outage. (Few requests are sent
    // during it, since every lane is held up by a request being retried.)
    expect(carried.length).toBeGreaterThan(0);
    // Only a command that is not idempotent (INCR, GETDEL) may fail, and only
    // when its connection dropped under it: it may have run, so it is not sent
    // again. Everything else is retried across the outage.
    expect(Object.keys(failedOperations).filter((op) => !NOT_IDEMPOTENT.has(op))).toEqual([]);
  });
});
