import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_PING_OUT } from "../../src/transport/connection.js";
import { isSuccess, kindOf } from "./support/load.js";
import {
  loadBothSubjects,
  type NatsLineStack,
  workerBehindNatsProxy,
} from "./support/nats-line.js";
import { reportRow } from "./support/report.js";
import { sleep, until } from "./support/stack.js";

const PING_MS = 1000;
const PARTITION_MS = 6000;
/**
 * nats.js PINGs every interval and gives up at the tick that finds
 * MAX_PING_OUT still unanswered: 2 to 3 intervals after the line went silent.
 * 2.5 s more for late timers on a loaded 2-core machine and the /readyz poll;
 * still inside the partition, so the check happens while it lasts.
 */
const DETECT_BOUND_MS = (MAX_PING_OUT + 1) * PING_MS + 2500;
const LANES = 6;
/** More durable lanes: each holds one request through the partition. */
const DURABLE_LANES = 12;
/**
 * Direct callers' wait: well above the worker's REQUEST_TIMEOUT (2 s), so only
 * a lost request times out; short enough that each lane sends twice into the
 * partition, the second time after the worker has given up on the connection.
 */
const DIRECT_TIMEOUT_MS = 5000;

/**
 * A silent partition between the worker and nats-server: the proxy keeps both
 * TCP connections open and moves no bytes for 6 s (no FIN, no RST), while
 * callers, connected to the server directly, keep sending on both subjects.
 * The worker runs with NATS_PING_INTERVAL=1s.
 *
 * The worker: its PINGs go unanswered, nats.js reports "staleConnection"
 * 2.5 to 3 s in (at the third tick), drops the socket and dials again.
 * /readyz turns 503 (checks.nats false) at that moment, and one warn line
 * says why. The new dial is accepted by the proxy but its handshake is held
 * with everything else, so it completes the moment the line returns: ready
 * again within about 100 ms of restore, no restart.
 *
 * The server (nats-server 2.9, default ping_interval 2 min), found by
 * watching /connz and its debug log in this scenario: it has no idea. It
 * keeps the worker's old connection and its queue subscription for the whole
 * partition and routes every request on the direct subject to it, before
 * and after the worker gave up on that connection, writing them into a
 * socket nobody reads. No caller hears "no responders" (as when the line is
 * cut, see nats-line-cut.test.ts): every direct request sent while
 * partitioned times out. Its own PINGs would not save it soon either: with
 * ping_interval set to 1 s it postponed most of them ("Delaying PING due to
 * client activity", though nothing could arrive from the worker: what it
 * kept writing to the connection, requests and JetStream heartbeats,
 * counted) and had not closed the connection after 6 s. It drops the old
 * connection only when the line returns and the worker's abandoned socket
 * answers ("Client connection closed: Read Error", about 20 ms after
 * restore); the requests queued for it go with it, never delivered, never
 * run. Core NATS is at most once: these are counted as lost to the fault
 * (`lostToFault`), apart from `lost`, which must stay 0. So in production a
 * partitioned worker still draws its share of its queue group's direct
 * requests, which time out, until the line heals or the server's own ping or
 * write deadline gives up on it; the worker's ping only makes the worker
 * itself unready and back quickly.
 *
 * Durable subject: JetStream keeps what arrives during the partition; back,
 * the worker pulls and serves all of it within a few hundred ms of restore:
 * every request answered 200, nothing lost, nothing applied twice.
 */
describe("fault: silent partition between worker and NATS", () => {
  let stack: NatsLineStack;

  beforeAll(async () => {
    stack = await workerBehindNatsProxy({ NATS_PING_INTERVAL: `${PING_MS}ms` });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it("notices within a few ping intervals, turns unready, and reconnects once the line is back", async () => {
    const { proxy, worker, nc, redis } = stack;
    expect((await worker.readyz()).status).toBe(200);
    const load = loadBothSubjects(nc, {
      runId: "natspart",
      lanes: LANES,
      durableLanes: DURABLE_LANES,
      directTimeoutMs: DIRECT_TIMEOUT_MS,
    });
    await sleep(1500);

    const partitionedAt = Date.now();
    proxy.blackhole();
    let unready: { status: number; body: unknown } | undefined;
    await until(
      async () => {
        unready = await worker.readyz();
        return (
          unready.status === 503 &&
          (unready.body as { checks?: { nats?: boolean } }).checks?.nats === false
        );
      },
      `/readyz to report the stale NATS connection (ping interval ${PING_MS} ms)`,
      DETECT_BOUND_MS,
      100,
    );
    const detectedAt = Date.now();
    // Unready for the rest of the partition: the reconnect cannot finish.
    const whilePartitioned: number[] = [];
    while (Date.now() < partitionedAt + PARTITION_MS) {
      whilePartitioned.push((await worker.readyz()).status);
      await sleep(250);
    }
    const restoredAt = Date.now();
    proxy.restore();
    await until(async () => (await worker.readyz()).status === 200, "/readyz to recover", 20_000);
    const readyAt = Date.now();
    // Every lane has had a request answered since (lanes caught by the
    // partition wait out their timeout first), then a little more traffic.
    await until(
      () =>
        new Set(
          load.direct.ledger.where((e) => e.sentAt >= readyAt && isSuccess(e)).map((e) => e.lane),
        ).size === LANES,
      "every direct lane to succeed after recovery",
      DIRECT_TIMEOUT_MS + 15_000,
    );
    await sleep(2000);
    const {
      direct: directLedger,
      durable: durableLedger,
      directVerdict,
      durableVerdict,
    } = await load.stop(redis);

    const staleLines = worker.proc.logs.filter((line) => /stale/i.test(String(line.msg)));
    const staleAt = Date.parse(String(staleLines[0]?.time));
    // In flight when the line went silent, sent during it, or sent before the
    // server dropped the old connection at restore: routed to a socket nobody
    // reads.
    const inFault = (sentAt: number) => sentAt >= partitionedAt - 1000 && sentAt < readyAt;
    const timeouts = directLedger.where((e) => e.result?.kind === "timeout");
    const lostToPartition = timeouts.filter((e) => inFault(e.sentAt));
    const directDuring = directLedger.where(
      (e) => e.sentAt >= partitionedAt && e.sentAt < restoredAt,
    );
    const directAfterStale = directDuring.filter((e) => e.sentAt > staleAt);
    const directAfter = directLedger.where((e) => e.sentAt >= readyAt);
    // Unanswered when the line went silent, or sent while it was.
    const durableCaught = durableLedger.where(
      (e) => e.sentAt < restoredAt && e.doneAt > partitionedAt,
    );
    const durableBacklogDone = Math.max(...durableCaught.map((e) => e.doneAt));
    reportRow({
      scenario: `NATS line silent 6 s (blackhole), ping ${PING_MS / 1000} s (direct subject)`,
      requests: directLedger.sent,
      replies: directLedger.byKind(),
      lost: timeouts.length - lostToPartition.length,
      lostToFault: lostToPartition.length,
      doubleApplied: directVerdict.doubleApplied,
      notes: `unready ${detectedAt - partitionedAt} ms into the partition (stale logged at ${staleAt - partitionedAt} ms); while silent ${directDuring.length} sent: ${JSON.stringify(directLedger.byKind(directDuring))}, ${directAfterStale.length} of them after the worker had dropped the connection; ready again ${readyAt - restoredAt} ms after restore`,
    });
    reportRow({
      scenario: `NATS line silent 6 s (blackhole), ping ${PING_MS / 1000} s (durable subject)`,
      requests: durableLedger.sent,
      replies: durableLedger.byKind(),
      lost: durableVerdict.lost,
      doubleApplied: durableVerdict.doubleApplied,
      notes: `caught by the partition ${durableCaught.length}: ${JSON.stringify(durableLedger.byKind(durableCaught))}, the last answered ${durableBacklogDone - restoredAt} ms after restore; missing writes ${durableVerdict.missingWrites}`,
    });

    // The worker: noticed, said so once, stayed up and unready, came back alone.
    expect(worker.proc.child.exitCode).toBeNull();
    expect(worker.proc.child.signalCode).toBeNull();
    expect(unready?.body).toMatchObject({ checks: { nats: false } });
    expect(detectedAt - partitionedAt).toBeLessThanOrEqual(DETECT_BOUND_MS);
    expect(whilePartitioned.length).toBeGreaterThan(0);
    expect(whilePartitioned.every((status) => status === 503)).toBe(true);
    expect(staleLines.map((line) => line.level)).toEqual(["warn"]);
    expect(staleAt).toBeGreaterThanOrEqual(partitionedAt - 50);
    expect(staleAt).toBeLessThanOrEqual(detectedAt + 50);
    expect(
      worker.proc.logs.some(
        (line) => line.msg === "reconnected to NATS" && Date.parse(String(line.time)) >= staleAt,
      ),
    ).toBe(true);
    expect(readyAt - restoredAt).toBeLessThanOrEqual(10_000);

    // Direct: the server kept routing to the deaf connection, so requests of
    // the partition time out (never "no responders", never a wrong answer);
    // nothing outside it is lost, and everything after recovery succeeds.
    expect(directDuring.length).toBeGreaterThan(0);
    expect(
      directDuring
        .filter((e) => e.sentAt < restoredAt - 200)
        .map((e) => kindOf(e.result))
        .filter((kind) => kind !== "timeout"),
    ).toEqual([]);
    expect(timeouts.length - lostToPartition.length).toBe(0);
    expect(directVerdict.problems.filter((p) => !/got no reply/.test(p))).toEqual([]);
    expect(directAfter.length).toBeGreaterThan(0);
    expect(directAfter.filter((e) => !isSuccess(e)).map((e) => kindOf(e.result))).toEqual([]);

    // Durable: everything answered with success, each effect once.
    expect(durableCaught.length).toBeGreaterThanOrEqual(DURABLE_LANES);
    expect(durableVerdict.problems).toEqual([]);
    expect(durableLedger.where((e) => !isSuccess(e)).map((e) => kindOf(e.result))).toEqual([]);
  });
});
