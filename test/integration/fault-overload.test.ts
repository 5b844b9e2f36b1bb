import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Entry,
  isSuccess,
  kindOf,
  Ledger,
  send,
  startLoad,
  verify,
} from "../faults/support/load.js";
import { reportRow } from "../faults/support/report.js";
import {
  callerConnection,
  launchWorker,
  sleep,
  until,
  type WorkerHandle,
} from "../faults/support/stack.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { startTcpProxy, type TcpProxy } from "../harness/tcp-proxy.js";

const MAX_IN_FLIGHT = 100;
const OFFERED = 10 * MAX_IN_FLIGHT;
const ROUNDS = 3;
/** Each request carries this much data, so buffering the excess would show in RSS. */
const DATA = "x".repeat(8 * 1024);
/** Generous: RSS may grow by what the process keeps warm, never with what was refused. */
const RSS_BOUND_KB = 150 * 1024;

/**
 * Ten times MAX_IN_FLIGHT offered at once while Redis is held still, several
 * rounds: the excess is answered 503 at once (before Redis moves again), the
 * accepted requests succeed once it does, the worker's RSS stays bounded, and
 * it serves normally afterwards.
 */
describe("fault: overload, 10x MAX_IN_FLIGHT at once", () => {
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
      metadata: { readTimeout: "20s" },
      env: { MAX_IN_FLIGHT: String(MAX_IN_FLIGHT), REQUEST_TIMEOUT: "20s" },
    });
    nc = await callerConnection(nats.url);
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.dispose();
    await proxy?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  const burstRound = async (round: number, ledger: Ledger) => {
    proxy.blackhole();
    const startedAt = Date.now();
    const entries: Entry[] = [];
    const settled = Array.from({ length: OFFERED }, (_, index) => {
      const entry: Entry = {
        id: round * 100_000 + index,
        lane: -1,
        operation: "incr-once",
        key: `overload:${round}:${index}`,
        seq: undefined,
        sentAt: Date.now(),
        doneAt: 0,
        result: undefined,
        minSeq: undefined,
      };
      entries.push(entry);
      ledger.entries.push(entry);
      return send(
        nc,
        "bindings.cache",
        { operation: "increment", metadata: { key: entry.key }, data: DATA },
        30_000,
      ).then((result) => {
        entry.result = result;
        entry.doneAt = Date.now();
      });
    });
    // Wait for the refusals: they need no Redis, which is still held.
    let answered = 0;
    await until(
      async () => {
        const now = entries.filter((e) => e.result !== undefined).length;
        const quiet = now === answered && now >= OFFERED - MAX_IN_FLIGHT;
        answered = now;
        return quiet;
      },
      "the excess to be refused",
      20_000,
      300,
    );
    const beforeRestore = entries.filter((e) => e.result !== undefined);
    const rssHeld = worker.rssKb();
    proxy.restore();
    await Promise.all(settled);
    return { entries, beforeRestore, startedAt, rssHeld };
  };

  it("refuses the excess at once, keeps RSS bounded and serves normally after", async () => {
    // Warm up, then take the baseline.
    await Promise.all(
      Array.from({ length: 300 }, (_, index) =>
        send(nc, "bindings.cache", { operation: "get", metadata: { key: `warm${index}` } }, 10_000),
      ),
    );
    await sleep(500);
    const rssBaseline = worker.rssKb();
    const load = startLoad({
      nc,
      subject: "bindings.cache",
      runId: "overload",
      lanes: 2,
      pauseMs: 5,
      timeoutMs: 30_000,
    });
    const burst = new Ledger();
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) rounds.push(await burstRound(round, burst));
    const ledger = await load.stop();
    await sleep(1000);
    const rssAfter = worker.rssKb();

    // Afterwards: business as usual, 200 requests, never more at once than the cap.
    const after = [];
    for (let batch = 0; batch < 4; batch++) {
      after.push(
        ...(await Promise.all(
          Array.from({ length: MAX_IN_FLIGHT / 2 }, (_, index) =>
            send(
              nc,
              "bindings.cache",
              { operation: "increment", metadata: { key: `after${batch}:${index}` } },
              10_000,
            ),
          ),
        )),
      );
    }

    const all = new Ledger();
    all.entries.push(...ledger.entries, ...burst.entries);
    const direct = new Redis({ host: redis.host, port: redis.port });
    const verdict = await verify(all, direct).finally(() => direct.disconnect());
    const refused = burst.where((e) => kindOf(e.result) === "503");
    const slowestRefusal = Math.max(...refused.map((e) => e.doneAt - e.sentAt));
    const peakHeld = Math.max(...rounds.map((r) => r.rssHeld));
    reportRow({
      scenario: `overload: ${OFFERED} at once with MAX_IN_FLIGHT ${MAX_IN_FLIGHT}, ${ROUNDS} rounds`,
      requests: all.sent,
      replies: all.byKind(),
      lost: verdict.lost,
      doubleApplied: verdict.doubleApplied,
      notes: `per round accepted ${rounds.map((r) => r.entries.filter(isSuccess).length).join("/")}, refused before Redis moved ${rounds.map((r) => r.beforeRestore.length).join("/")}; slowest 503 ${slowestRefusal} ms; RSS ${Math.round(rssBaseline / 1024)} MB before, ${Math.round(peakHeld / 1024)} MB at peak (${rounds.map((r) => Math.round(r.rssHeld / 1024)).join("/")} per round), ${Math.round(rssAfter / 1024)} MB after; 200/200 after: ${after.filter((r) => r.kind === "reply" && r.status === 200).length}`,
    });

    expect(verdict.problems).toEqual([]);
    for (const { entries, beforeRestore } of rounds) {
      // Everything answered while Redis was held is a refusal, and that is all of the excess.
      expect(beforeRestore.map((e) => kindOf(e.result)).filter((k) => k !== "503")).toEqual([]);
      expect(beforeRestore.length).toBeGreaterThanOrEqual(OFFERED - MAX_IN_FLIGHT);
      const accepted = entries.filter(isSuccess);
      expect(accepted.length).toBeLessThanOrEqual(MAX_IN_FLIGHT);
      expect(accepted.length + beforeRestore.length).toBe(OFFERED);
      for (const e of beforeRestore) {
        expect(e.result?.kind === "reply" && e.result.body).toMatch(/overloaded/);
      }
    }
    expect(rssAfter - rssBaseline).toBeLessThan(RSS_BOUND_KB);
    expect(peakHeld - rssBaseline).toBeLessThan(RSS_BOUND_KB);
    expect(after.every((r) => r.kind === "reply" && r.status === 200)).toBe(true);
    expect(worker.proc.child.exitCode).toBeNull();
  });
});
