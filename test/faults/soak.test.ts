import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { startLoad, verify } from "./support/load.js";
import { reportRow } from "./support/report.js";
import {
  callerConnection,
  launchWorker,
  sleep,
  until,
  type WorkerHandle,
  watchStatus,
} from "./support/stack.js";

/** SOAK_SECONDS=600 npm run test:faults for a longer soak; 60 s by default. */
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const LANES = 8;

/**
 * Every operation, mixed, from 8 callers for SOAK_SECONDS against two worker
 * processes, with a Redis restart (stop, 3 s, start) a third of the way in and
 * a nats-server restart (stop, 2 s, start) two thirds in. Afterwards every
 * request sent has its answer, and Redis agrees with the answers: counters
 * between their successes and successes plus ambiguous failures, each lane's
 * key holding its last successful write, nothing applied twice.
 *
 * The one exception is core NATS's own: a request inside the nats-server when
 * it stops, or published by a caller while its client is disconnected (nats.js
 * drops what it could not send when it dials again), is lost (at most one per
 * lane, which waits out its timeout; the durable subject is the remedy), and
 * is counted apart.
 */
describe(`fault: ${SOAK_SECONDS} s soak with a Redis and a NATS restart`, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  const workers: WorkerHandle[] = [];

  beforeAll(async () => {
    [nats, redis] = await Promise.all([
      natsServer(),
      redisServer({ args: ["--appendonly", "yes", "--appendfsync", "always"] }),
    ]);
    for (let i = 0; i < 2; i++) {
      workers.push(
        await launchWorker({
          natsUrl: nats.url,
          redisHost: `${redis.host}:${redis.port}`,
          metadata: {
            redisMaxRetries: "40",
            redisMinRetryInterval: "100ms",
            redisMaxRetryInterval: "500ms",
          },
          env: { REQUEST_TIMEOUT: "6s" },
        }),
      );
    }
    nc = await callerConnection(nats.url);
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.all(workers.map((worker) => worker.dispose()));
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it(
    "answers every request and leaves Redis consistent with the answers",
    async () => {
      const status = watchStatus(nc);
      const startedAt = Date.now();
      const load = startLoad({
        nc,
        subject: "bindings.cache",
        runId: "soak",
        lanes: LANES,
        pauseMs: 5,
        timeoutMs: 8000,
      });
      const at = (fraction: number) => startedAt + fraction * SOAK_SECONDS * 1000;

      await sleep(Math.max(0, at(1 / 3) - Date.now()));
      const redisStoppedAt = Date.now();
      await redis.stop();
      await sleep(3000);
      await redis.start();
      const redisStartedAt = Date.now();

      await sleep(Math.max(0, at(2 / 3) - Date.now()));
      const natsStoppedAt = Date.now();
      await nats.stop();
      await sleep(2000);
      await nats.start();
      const natsStartedAt = Date.now();
      await until(
        async () =>
          (await Promise.all(workers.map((w) => w.readyz()))).every((r) => r.status === 200),
        "both workers ready again",
        30_000,
      );

      await sleep(Math.max(0, at(1) - Date.now()));
      const ledger = await load.stop();
      const endedAt = Date.now();

      const direct = new Redis({ host: redis.host, port: redis.port });
      const verdict = await verify(ledger, direct).finally(() => direct.disconnect());
      const reconnectedAt = status.first("reconnect", natsStoppedAt) ?? natsStartedAt;
      const timeouts = ledger.where((e) => e.result?.kind === "timeout");
      const inTransit = timeouts.filter(
        (e) => e.sentAt >= natsStoppedAt - 1000 && e.sentAt <= reconnectedAt,
      );
      const lost = timeouts.length - inTransit.length;
      const answered = ledger.sent - timeouts.length;
      const phase = (from: number, to: number) =>
        JSON.stringify(ledger.byKind(ledger.where((e) => e.sentAt >= from && e.sentAt < to)));
      reportRow({
        scenario: `soak ${SOAK_SECONDS} s, all operations, 2 workers, Redis restart + NATS restart`,
        requests: ledger.sent,
        replies: ledger.byKind(),
        lost,
        lostToFault: inTransit.length,
        doubleApplied: verdict.doubleApplied,
        notes: `answered ${answered}/${ledger.sent} (${Math.round(ledger.sent / ((endedAt - startedAt) / 1000))}/s); Redis restart window ${phase(redisStoppedAt, redisStartedAt + 2000)}; NATS restart window ${phase(natsStoppedAt, natsStartedAt + 2000)}; missing writes ${verdict.missingWrites}, stale reads ${verdict.staleReads}, failed-but-applied ${verdict.appliedDespiteFailure}; workers still running: ${workers.filter((w) => w.proc.child.exitCode === null).length}/2`,
      });

      expect(lost).toBe(0);
      expect(inTransit.length).toBeLessThanOrEqual(LANES);
      // One request in flight per lane: so at most one lost per lane.
      expect(new Set(inTransit.map((e) => e.lane)).size).toBe(inTransit.length);
      expect(answered + inTransit.length).toBe(ledger.sent);
      expect(ledger.byKind().error ?? 0).toBe(0);
      expect(verdict.doubleApplied).toBe(0);
      expect(verdict.missingWrites).toBe(0);
      expect(verdict.staleReads).toBe(0);
      expect(verdict.problems.filter((p) => !/got no reply/.test(p))).toEqual([]);
      expect(workers.every((w) => w.proc.child.exitCode === null)).toBe(true);
    },
    (SOAK_SECONDS + 120) * 1000,
  );
});
