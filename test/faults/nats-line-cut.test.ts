import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSuccess, kindOf } from "./support/load.js";
import {
  loadBothSubjects,
  type NatsLineStack,
  workerBehindNatsProxy,
} from "./support/nats-line.js";
import { reportRow } from "./support/report.js";
import { sleep, until } from "./support/stack.js";

const CUT_MS = 5000;
const LANES = 6;

/**
 * The line between the worker and nats-server cut for 5 s (the worker's
 * connection reset, new ones refused) and restored, while callers, connected
 * to the server directly, keep sending on both subjects.
 *
 * Direct subject: with its only worker gone the server answers "no responders"
 * at once, which a caller can act on; nothing may hang past the outage except
 * a request the server had already written to the worker's socket when it was
 * reset (core NATS is at most once), at most one per lane. Durable subject:
 * JetStream keeps what arrives during the cut and the worker, back, serves all
 * of it: nothing lost, nothing applied twice. The worker reconnects by itself,
 * /readyz says 503 while it is cut off and 200 once it is back.
 */
describe("fault: line to NATS cut", () => {
  let stack: NatsLineStack;

  beforeAll(async () => {
    stack = await workerBehindNatsProxy();
  });

  afterAll(async () => {
    await stack?.close();
  });

  it("reconnects by itself; direct callers hear 'no responders' meanwhile, durable requests all get served", async () => {
    const { proxy, worker, nc, redis } = stack;
    expect((await worker.readyz()).status).toBe(200);
    const load = loadBothSubjects(nc, {
      runId: "natscut",
      lanes: LANES,
      directTimeoutMs: 15_000,
    });
    await sleep(1500);
    const cutAt = Date.now();
    proxy.cut();
    let readyWhileCut: { status: number; body: unknown } | undefined;
    await until(async () => {
      readyWhileCut = await worker.readyz();
      return readyWhileCut.status === 503;
    }, "/readyz to report the lost NATS connection");
    await sleep(cutAt + CUT_MS - Date.now());
    const restoredAt = Date.now();
    proxy.restore();
    await until(async () => (await worker.readyz()).status === 200, "/readyz to recover", 20_000);
    const readyAt = Date.now();
    await sleep(3000);
    const {
      direct: directLedger,
      durable: durableLedger,
      directVerdict,
      durableVerdict,
    } = await load.stop(redis);

    const timeouts = directLedger.where((e) => e.result?.kind === "timeout");
    // Written to the worker's socket just before the reset: the only requests
    // core NATS may drop here.
    const caughtByCut = timeouts.filter((e) => e.sentAt >= cutAt - 1000 && e.sentAt <= cutAt + 200);
    const directWhileCut = directLedger.where(
      (e) => e.sentAt > cutAt + 200 && e.sentAt < restoredAt,
    );
    const directAfter = directLedger.where((e) => e.sentAt >= readyAt);
    const durableWhileCut = durableLedger.where((e) => e.sentAt >= cutAt && e.sentAt < restoredAt);
    const firstSuccess = Math.min(
      ...directLedger.where((e) => e.sentAt >= restoredAt && isSuccess(e)).map((e) => e.doneAt),
    );
    reportRow({
      scenario: "NATS line cut 5 s, then restored (direct subject)",
      requests: directLedger.sent,
      replies: directLedger.byKind(),
      lost: timeouts.length - caughtByCut.length,
      lostToFault: caughtByCut.length,
      doubleApplied: directVerdict.doubleApplied,
      notes: `while cut ${directWhileCut.length} sent: ${JSON.stringify(directLedger.byKind(directWhileCut))}; ready again ${readyAt - restoredAt} ms after restore, first success ${firstSuccess - restoredAt} ms after it`,
    });
    reportRow({
      scenario: "NATS line cut 5 s, then restored (durable subject)",
      requests: durableLedger.sent,
      replies: durableLedger.byKind(),
      lost: durableVerdict.lost,
      doubleApplied: durableVerdict.doubleApplied,
      notes: `while cut ${durableWhileCut.length} sent: ${JSON.stringify(durableLedger.byKind(durableWhileCut))}; missing writes ${durableVerdict.missingWrites}`,
    });

    expect(worker.proc.child.exitCode).toBeNull();
    expect(readyWhileCut?.body).toMatchObject({ checks: { nats: false } });
    expect(worker.proc.logs.some((line) => line.msg === "reconnected to NATS")).toBe(true);

    // Direct: told at once while the worker was away, never a wrong answer.
    expect(directWhileCut.length).toBeGreaterThan(0);
    expect(
      directWhileCut.map((e) => kindOf(e.result)).filter((k) => k !== "no-responders"),
    ).toEqual([]);
    expect(timeouts.length - caughtByCut.length).toBe(0);
    expect(new Set(caughtByCut.map((e) => e.lane)).size).toBe(caughtByCut.length);
    expect(directVerdict.problems.filter((p) => !/got no reply/.test(p))).toEqual([]);
    expect(directAfter.length).toBeGreaterThan(0);
    expect(directAfter.every(isSuccess)).toBe(true);
    expect(firstSuccess - restoredAt).toBeLessThanOrEqual(5000);

    // Durable: everything answered with success, each effect once.
    expect(durableWhileCut.length).toBeGreaterThan(0);
    expect(durableVerdict.problems).toEqual([]);
    expect(durableLedger.where((e) => !isSuccess(e)).map((e) => kindOf(e.result))).toEqual([]);
  });
});
