import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { durableRequest } from "../../src/transport/durable/request.js";
import { send } from "../faults/support/load.js";
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

/**
 * A worker's first durable requests arriving while direct requests are being
 * auto-pipelined on the same Redis connection. The durable scripts used to be
 * defined at that moment, which broke the open batch: every durable request
 * failed with 500 and the worker process died.
 */
describe("fault: first durable requests amid direct traffic", () => {
  let nats: NatsServer;
  let redis: RedisServer;
  let nc: NatsConnection;
  let worker: WorkerHandle;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([natsServer({ jetstream: true }), redisServer()]);
    worker = await launchWorker({ natsUrl: nats.url, redisHost: `${redis.host}:${redis.port}` });
    await worker.proc.waitForLog((line) => line.msg === "durable intake pulling", 20_000);
    nc = await callerConnection(nats.url);
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.dispose();
    await Promise.all([nats?.close(), redis?.close()]);
  });

  it("answers all of them, direct and durable, and the worker stays up", async () => {
    const direct = Array.from({ length: 400 }, (_, index) =>
      send(
        nc,
        "bindings.cache",
        { operation: "increment", metadata: { key: `d${index % 7}` } },
        10_000,
      ),
    );
    const durable = Array.from({ length: 30 }, (_, index) =>
      durableRequest(
        nc,
        "bindings.durable.cache",
        JSON.stringify({ operation: "increment", metadata: { key: `j${index}` } }),
        { timeoutMs: 15_000 },
      ).then(
        (msg) => msg.headers?.get("Nats-Service-Error-Code") || "200",
        (error: Error) => error.name,
      ),
    );
    const [directResults, durableCodes] = await Promise.all([
      Promise.all(direct),
      Promise.all(durable),
    ]);
    await sleep(500);
    const replies: Record<string, number> = {};
    for (const r of directResults) {
      const kind = r.kind === "reply" ? String(r.status) : r.kind;
      replies[kind] = (replies[kind] ?? 0) + 1;
    }
    for (const code of durableCodes) replies[code] = (replies[code] ?? 0) + 1;
    reportRow({
      scenario: "first durable requests amid 400 direct ones",
      requests: directResults.length + durableCodes.length,
      replies,
      lost: 0,
      doubleApplied: 0,
      notes: `worker exit code ${worker.proc.child.exitCode}`,
    });
    expect(replies).toEqual({ "200": 430 });
    expect(worker.proc.child.exitCode).toBeNull();
  });
});
