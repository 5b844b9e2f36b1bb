import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { isSuccess, startLoad, verify } from "./support/load.js";
import { reportRow } from "./support/report.js";
import {
  callerConnection,
  launchWorker,
  sleep,
  until,
  type WorkerHandle,
  watchStatus,
} from "./support/stack.js";

/**
 * nats-server stopped and started again on the same port under steady
 * traffic: the worker reconnects and resubscribes by itself, /readyz says 503
 * while NATS is away and 200 again after, and requests after the restart
 * succeed.
 *
 * Core NATS is at most once: a request (or its reply) inside the server at the
 * moment it stops is gone, and so is one a client publishes while it is
 * disconnected (nats.js drops what it could not send when it dials again).
 * The caller learns it only from its timeout. Those requests, sent between the
 * stop and the caller's reconnection, are counted apart; each load lane has
 * one request in flight and waits out its timeout (longer than the outage),
 * so a lane loses at most one. Everything sent after the caller reconnected
 * must be answered.
 */
describe("fault: nats-server restarted", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let worker: WorkerHandle;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    worker = await launchWorker({
      natsUrl: nats.url,
      redisHost: `${redis.host}:${redis.port}`,
      env: { REQUEST_TIMEOUT: "2s" },
    });
    nc = await callerConnection(nats.url);
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.dispose();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it("reconnects, resubscribes and serves again; /readyz reflects the outage", async () => {
    expect((await worker.readyz()).status).toBe(200);
    const status = watchStatus(nc);
    const lanes = 8;
    const load = startLoad({
      nc,
      subject: "bindings.cache",
      runId: "natsrr",
      lanes,
      timeoutMs: 5000,
    });
    await sleep(1500);
    const stoppedAt = Date.now();
    await nats.stop();
    let readyDuringOutage: { status: number; body: unknown } | undefined;
    await until(async () => {
      readyDuringOutage = await worker.readyz();
      return readyDuringOutage.status === 503;
    }, "/readyz to report the outage");
    await sleep(2000);
    await nats.start();
    const startedAt = Date.now();
    await until(async () => (await worker.readyz()).status === 200, "/readyz to recover", 30_000);
    const readyAt = Date.now();
    // Past the client timeout, so lanes stuck on a lost request send again.
    await sleep(7000);
    const ledger = await load.stop();

    const direct = new Redis({ host: redis.host, port: redis.port });
    const verdict = await verify(ledger, direct).finally(() => direct.disconnect());
    const afterRestart = ledger.where((e) => e.sentAt >= readyAt);
    const reconnectedAt = status.first("reconnect", stoppedAt) ?? readyAt;
    const timeouts = ledger.where((e) => e.result?.kind === "timeout");
    const inTransit = timeouts.filter(
      (e) => e.sentAt >= stoppedAt - 1000 && e.sentAt <= reconnectedAt,
    );
    const lost = timeouts.length - inTransit.length;
    const aroundOutage = ledger.where((e) => e.sentAt >= stoppedAt - 100 && e.sentAt < readyAt);
    reportRow({
      scenario: "nats-server restarted (stop, 2 s, start)",
      requests: ledger.sent,
      replies: ledger.byKind(),
      lost,
      lostToFault: inTransit.length,
      doubleApplied: verdict.doubleApplied,
      notes: `lost in the outage (in the stopped server, or dropped by the disconnected caller's client): sent ${inTransit.map((e) => e.sentAt - stoppedAt).join("/")} ms after the stop, the caller back at +${reconnectedAt - stoppedAt} ms; sent around the outage ${aroundOutage.length}: ${JSON.stringify(ledger.byKind(aroundOutage))}; ready again ${readyAt - startedAt} ms after start; after it ${afterRestart.length} sent, ${afterRestart.filter(isSuccess).length} ok`,
    });

    expect(readyDuringOutage?.body).toMatchObject({ checks: { nats: false } });
    expect(worker.proc.child.exitCode).toBeNull();
    expect(lost).toBe(0);
    expect(inTransit.length).toBeLessThanOrEqual(lanes);
    // One request in flight per lane: so at most one lost per lane.
    expect(new Set(inTransit.map((e) => e.lane)).size).toBe(inTransit.length);
    expect(verdict.problems.filter((p) => !/got no reply/.test(p))).toEqual([]);
    expect(afterRestart.length).toBeGreaterThan(0);
    expect(afterRestart.every(isSuccess)).toBe(true);
    expect(worker.proc.logs.some((line) => line.msg === "reconnected to NATS")).toBe(true);
  });
});
