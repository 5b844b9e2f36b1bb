import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { durableRequest } from "../../src/transport/durable/request.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { durableSender, isSuccess, startLoad, verify } from "./support/load.js";
import { reportRow } from "./support/report.js";
import { callerConnection, launchWorker, sleep, type WorkerHandle } from "./support/stack.js";

/** After a SIGKILL the server sees the socket close at once; this is only a generous bound. */
const NOTICE_MS = 500;

/**
 * SIGKILL of one of two workers under load. On the direct subject (core NATS,
 * at most once) the requests the killed worker held are lost, and counted
 * apart; everything sent after the kill is served by the other worker. On the
 * durable subject (JetStream) nothing is lost: the killed worker's requests
 * are delivered again after processingTimeout, and applied once.
 */
describe("fault: SIGKILL of one of two workers", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  const workers: WorkerHandle[] = [];

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    nc = await callerConnection(nats.url);
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.dispose()));
  });

  afterAll(async () => {
    await nc?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  const launchPair = () =>
    Promise.all(
      [0, 1].map(() =>
        launchWorker({
          natsUrl: nats.url,
          redisHost: `${redis.host}:${redis.port}`,
          metadata: { processingTimeout: "2s", redeliverInterval: "500ms" },
          env: { REQUEST_TIMEOUT: "2s" },
        }).then((worker) => {
          workers.push(worker);
          return worker;
        }),
      ),
    );

  it("direct subject: the other worker keeps serving; only the killed one's requests are lost", async () => {
    const [killed, survivor] = await launchPair();
    if (!killed || !survivor) throw new Error("two workers expected");
    const load = startLoad({ nc, subject: "bindings.cache", runId: "kill", timeoutMs: 5000 });
    await sleep(1500);
    const killedAt = Date.now();
    killed.proc.kill("SIGKILL");
    await killed.proc.exited();
    await sleep(6000);
    const ledger = await load.stop();

    const direct = new Redis({ host: redis.host, port: redis.port });
    const verdict = await verify(ledger, direct).finally(() => direct.disconnect());
    const timeouts = ledger.where((e) => e.result?.kind === "timeout");
    const toKilled = timeouts.filter((e) => e.sentAt < killedAt + NOTICE_MS);
    const afterKill = ledger.where((e) => e.sentAt >= killedAt + NOTICE_MS);
    reportRow({
      scenario: "SIGKILL of one of two workers, direct subject",
      requests: ledger.sent,
      replies: ledger.byKind(),
      lost: timeouts.length - toKilled.length,
      lostToFault: toKilled.length,
      doubleApplied: verdict.doubleApplied,
      notes: `lost to the killed worker: sent ${toKilled.map((e) => e.sentAt - killedAt).join("/")} ms around the kill; after the kill ${afterKill.length} sent, ${afterKill.filter(isSuccess).length} ok; survivor exit code ${survivor.proc.child.exitCode}`,
    });

    expect(timeouts.length - toKilled.length).toBe(0);
    expect(toKilled.length).toBeLessThanOrEqual(8);
    expect(verdict.doubleApplied).toBe(0);
    expect(verdict.missingWrites).toBe(0);
    expect(afterKill.length).toBeGreaterThan(0);
    expect(afterKill.every(isSuccess)).toBe(true);
    expect(survivor.proc.child.exitCode).toBeNull();
  });

  it("durable subject: nothing lost, nothing applied twice", async () => {
    const [killed, survivor] = await launchPair();
    if (!killed || !survivor) throw new Error("two workers expected");
    const load = startLoad({
      nc,
      subject: "bindings.durable.cache",
      runId: "killd",
      timeoutMs: 30_000,
      sender: durableSender(nc, "bindings.durable.cache", 30_000, durableRequest),
    });
    await sleep(2000);
    const killedAt = Date.now();
    killed.proc.kill("SIGKILL");
    await killed.proc.exited();
    await sleep(5000);
    const ledger = await load.stop();

    const direct = new Redis({ host: redis.host, port: redis.port });
    const verdict = await verify(ledger, direct).finally(() => direct.disconnect());
    const slow = ledger.where((e) => e.sentAt < killedAt && e.doneAt > killedAt + 1500);
    reportRow({
      scenario: "SIGKILL of one of two workers, durable subject (JetStream)",
      requests: ledger.sent,
      replies: ledger.byKind(),
      lost: verdict.lost,
      lostToFault: 0,
      doubleApplied: verdict.doubleApplied,
      notes: `answered only after redelivery (processingTimeout 2 s): ${slow.length}; missing writes ${verdict.missingWrites}`,
    });

    expect(verdict.problems).toEqual([]);
    expect(verdict.lost).toBe(0);
    expect(ledger.entries.every(isSuccess)).toBe(true);
    expect(survivor.proc.child.exitCode).toBeNull();
  });
});
