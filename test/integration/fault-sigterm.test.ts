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
  type WorkerHandle,
} from "../faults/support/stack.js";
import type { NatsServer } from "../harness/nats.js";
import type { RedisServer } from "../harness/redis.js";
import { natsServer, redisServer } from "../harness/servers.js";
import { startTcpProxy, type TcpProxy } from "../harness/tcp-proxy.js";

const IN_FLIGHT = 1000;

/**
 * SIGTERM to a worker process holding 1 000 requests in flight (its line to
 * Redis held still, so they really are in flight), under steady traffic with
 * a second worker in the queue group: every request is answered, the stopping
 * worker exits 0 once its last reply is out, and the other one takes the rest.
 */
describe("fault: SIGTERM under 1 000 in-flight requests", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let proxy: TcpProxy;
  let nc: NatsConnection;
  let stopping: WorkerHandle;
  let other: WorkerHandle | undefined;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer(), redisServer()]);
    proxy = await startTcpProxy(redis.host, redis.port);
    stopping = await launchWorker({
      natsUrl: nats.url,
      redisHost: `${proxy.host}:${proxy.port}`,
      metadata: { readTimeout: "20s" },
      env: { REQUEST_TIMEOUT: "20s", MAX_IN_FLIGHT: "1024" },
    });
    nc = await callerConnection(nats.url);
  });

  afterAll(async () => {
    await nc?.close();
    await stopping?.dispose();
    await other?.dispose();
    await proxy?.close();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it("answers every request in flight, exits 0, and the queue group keeps serving", async () => {
    const load = startLoad({
      nc,
      subject: "bindings.cache",
      runId: "term",
      lanes: 4,
      timeoutMs: 30_000,
    });
    await sleep(1000);
    // Hold Redis still: what the worker takes from now on stays in flight.
    proxy.blackhole();
    const burst = new Ledger();
    const replies = Array.from({ length: IN_FLIGHT }, (_, index) => {
      const entry: Entry = {
        id: 1_000_000 + index,
        lane: -1,
        operation: "incr-once",
        key: `term:burst:${index}`,
        seq: undefined,
        sentAt: Date.now(),
        doneAt: 0,
        result: undefined,
        minSeq: undefined,
      };
      burst.entries.push(entry);
      return send(
        nc,
        "bindings.cache",
        { operation: "increment", metadata: { key: entry.key } },
        30_000,
      ).then((result) => {
        entry.result = result;
        entry.doneAt = Date.now();
      });
    });
    // A discovery PING answered by the worker comes after every request sent before it.
    await nc.request("$SRV.PING.redis-binding", "", { timeout: 10_000 });
    expect(
      burst.entries.filter((e) => e.result !== undefined).map((e) => kindOf(e.result)),
    ).toEqual([]);

    // A second worker joins the queue group, then the first is told to stop.
    other = await launchWorker({ natsUrl: nats.url, redisHost: `${redis.host}:${redis.port}` });
    const rssBefore = stopping.rssKb();
    stopping.proc.kill("SIGTERM");
    await stopping.proc.waitForLog((line) => line.msg === "draining");
    await sleep(1000);
    proxy.restore();
    const exitCode = await stopping.proc.exited();
    await Promise.all(replies);
    await sleep(500);
    const ledger = await load.stop();

    const direct = new Redis({ host: redis.host, port: redis.port });
    const all = new Ledger();
    all.entries.push(...ledger.entries, ...burst.entries);
    const verdict = await verify(all, direct).finally(() => direct.disconnect());
    const drained = stopping.proc.logs.find((line) => line.msg === "draining");
    reportRow({
      scenario: "worker SIGTERM with 1 000 requests in flight (second worker serving)",
      requests: all.sent,
      replies: all.byKind(),
      lost: verdict.lost,
      doubleApplied: verdict.doubleApplied,
      notes: `burst ${IN_FLIGHT}: ${JSON.stringify(burst.byKind())}; in flight at SIGTERM ${String(drained?.inFlight)}; exit code ${exitCode}; RSS at SIGTERM ${Math.round(rssBefore / 1024)} MB`,
    });

    expect(exitCode).toBe(0);
    expect(Number(drained?.inFlight)).toBeGreaterThanOrEqual(IN_FLIGHT);
    expect(burst.entries.every(isSuccess)).toBe(true);
    expect(verdict.problems).toEqual([]);
    expect(all.byKind()["no-responders"] ?? 0).toBe(0);
    expect(stopping.proc.logs.at(-1)?.msg).toBe("stopped");
  });
});
