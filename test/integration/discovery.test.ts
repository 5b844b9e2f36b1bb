import { type ChildProcess, spawn } from "node:child_process";
import { createServer, connect as tcpConnect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  connect,
  createInbox,
  type Msg,
  type NatsConnection,
  RequestError,
} from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type Discovery,
  EndpointStatsRecorder,
  INFO_RESPONSE_TYPE,
  type InfoResponse,
  PING_RESPONSE_TYPE,
  type PingResponse,
  type ServiceDescription,
  STATS_RESPONSE_TYPE,
  type StatsResponse,
  startDiscovery,
} from "../../src/transport/discovery.js";

// --- a throwaway nats-server (to be replaced by test/harness) -------------

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

async function waitForPort(port: number, proc: ChildProcess, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`nats-server exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nats-server did not listen on ${port}`);
}

let server: ChildProcess | undefined;
let url = "";
const conns: NatsConnection[] = [];

async function newConnection(): Promise<NatsConnection> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  conns.push(nc);
  return nc;
}

beforeAll(async () => {
  const port = await freePort();
  server = spawn("/usr/sbin/nats-server", ["-a", "127.0.0.1", "-p", String(port)], {
    stdio: "ignore",
  });
  await waitForPort(port, server);
  url = `nats://127.0.0.1:${port}`;
});

afterAll(async () => {
  await Promise.allSettled(conns.map((nc) => nc.close()));
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server?.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
});

// --- helpers ----------------------------------------------------------------

/**
 * Publish once and gather every reply that arrives within `windowMs`. The
 * server's no-responders status (an empty 503) is not a reply: skip it.
 */
async function collect(nc: NatsConnection, subject: string, windowMs = 300): Promise<Msg[]> {
  const inbox = createInbox();
  const got: Msg[] = [];
  const sub = nc.subscribe(inbox, {
    callback: (_err, msg) => {
      if (msg.data.length > 0) got.push(msg);
    },
  });
  await nc.flush();
  nc.publish(subject, undefined, { reply: inbox });
  await sleep(windowMs);
  sub.unsubscribe();
  return got;
}

let seq = 0;
/** A service name unique to the test, so `$SRV.*.<name>` sees only its instances. */
function uniqueName(): string {
  seq += 1;
  return `redis-binding-t${seq}`;
}

function describeService(name: string): ServiceDescription {
  return {
    name,
    version: "1.2.3-rc.1+build.5",
    description: "Dapr Redis output binding over NATS",
    metadata: { host: "test" },
    endpoints: [
      {
        name: "cache",
        subject: "bindings.cache",
        queueGroup: "redis-binding-q",
        metadata: { operations: "create,get,delete,increment" },
      },
      { name: "sessions", subject: "bindings.sessions", queueGroup: "redis-binding-q" },
    ],
  };
}

const started: Discovery[] = [];
afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((d) => d.stop()));
});

// --- tests --------------------------------------------------------------------

describe("ADR-32 discovery", () => {
  it("answers PING, INFO and STATS on all three subject forms", async () => {
    const svc = await newConnection();
    const client = await newConnection();
    const name = uniqueName();
    const d = startDiscovery(svc, describeService(name), () => undefined);
    started.push(d);
    await svc.flush();

    expect(d.id).toMatch(/^[A-Za-z0-9]{22}$/);
    expect(d.subjects).toHaveLength(9);

    for (const verb of ["PING", "INFO", "STATS"] as const) {
      for (const subject of [
        `$SRV.${verb}`,
        `$SRV.${verb}.${name}`,
        `$SRV.${verb}.${name}.${d.id}`,
      ]) {
        // Collect rather than request: exactly one answer from us, never two. The
        // all-services form may also reach instances of other tests: pick ours by id.
        const replies = (await collect(client, subject, 150)).map((m) =>
          m.json<PingResponse | InfoResponse | StatsResponse>(),
        );
        const mine = replies.filter((r) => r.id === d.id);
        expect(mine, subject).toHaveLength(1);
        const r = mine[0];
        expect(r).toMatchObject({
          name,
          id: d.id,
          version: "1.2.3-rc.1+build.5",
          metadata: { host: "test" },
        });

        if (verb === "PING") {
          expect(r?.type).toBe(PING_RESPONSE_TYPE);
          expect(Object.keys(r ?? {}).sort()).toEqual([
            "id",
            "metadata",
            "name",
            "type",
            "version",
          ]);
        } else if (verb === "INFO") {
          expect(r).toEqual({
            type: INFO_RESPONSE_TYPE,
            name,
            id: d.id,
            version: "1.2.3-rc.1+build.5",
            metadata: { host: "test" },
            description: "Dapr Redis output binding over NATS",
            endpoints: [
              {
                name: "cache",
                subject: "bindings.cache",
                queue_group: "redis-binding-q",
                metadata: { operations: "create,get,delete,increment" },
              },
              {
                name: "sessions",
                subject: "bindings.sessions",
                queue_group: "redis-binding-q",
                metadata: {},
              },
            ],
          });
        } else {
          const s = r as StatsResponse;
          expect(s.type).toBe(STATS_RESPONSE_TYPE);
          expect(new Date(s.started).toISOString()).toBe(s.started);
          expect(s.endpoints).toEqual([
            {
              name: "cache",
              subject: "bindings.cache",
              queue_group: "redis-binding-q",
              num_requests: 0,
              num_errors: 0,
              last_error: "",
              processing_time: 0,
              average_processing_time: 0,
            },
            {
              name: "sessions",
              subject: "bindings.sessions",
              queue_group: "redis-binding-q",
              num_requests: 0,
              num_errors: 0,
              last_error: "",
              processing_time: 0,
              average_processing_time: 0,
            },
          ]);
        }
      }
    }
  });

  it("every instance answers $SRV.PING and $SRV.PING.<name>; the id form reaches one", async () => {
    const a = await newConnection();
    const b = await newConnection();
    const client = await newConnection();
    const name = uniqueName();
    const d1 = startDiscovery(a, describeService(name), () => undefined);
    const d2 = startDiscovery(b, describeService(name), () => undefined);
    started.push(d1, d2);
    await Promise.all([a.flush(), b.flush()]);
    expect(d1.id).not.toBe(d2.id);

    const ids = (subject: string) =>
      collect(client, subject).then((ms) =>
        ms
          .map((m) => m.json<PingResponse>())
          .filter((p) => p.name === name)
          .map((p) => p.id)
          .sort(),
      );
    const both = [d1.id, d2.id].sort();
    expect(await ids("$SRV.PING")).toEqual(both);
    expect(await ids(`$SRV.PING.${name}`)).toEqual(both);
    expect(await ids(`$SRV.PING.${name}.${d2.id}`)).toEqual([d2.id]);
  });

  it("STATS reports what the request path recorded, including async work", async () => {
    const svc = await newConnection();
    const client = await newConnection();
    const name = uniqueName();
    const cache = new EndpointStatsRecorder();
    const recorders = new Map([["cache", cache]]);
    const d = startDiscovery(svc, describeService(name), (n) => recorders.get(n), {
      statsData: (e) => (e.name === "cache" ? { in_flight: 0 } : undefined),
    });
    started.push(d);

    // The endpoint replies later than its callback returns, as the worker does.
    const ep = svc.subscribe("bindings.cache", {
      queue: "redis-binding-q",
      callback: (_err, msg) => {
        const t0 = EndpointStatsRecorder.now();
        void sleep(40).then(() => {
          const fail = msg.string() === "fail";
          msg.respond(fail ? "nope" : "ok");
          cache.record(t0, fail ? "503:redis unavailable" : undefined);
        });
      },
    });
    await svc.flush();

    expect((await client.request("bindings.cache", "x", { timeout: 2000 })).string()).toBe("ok");
    expect((await client.request("bindings.cache", "fail", { timeout: 2000 })).string()).toBe(
      "nope",
    );
    cache.recordDuration(1_000_000.7);
    ep.unsubscribe();

    const s = (await client.request(`$SRV.STATS.${name}.${d.id}`)).json<StatsResponse>();
    const c = s.endpoints.find((e) => e.name === "cache");
    expect(c).toMatchObject({
      num_requests: 3,
      num_errors: 1,
      last_error: "503:redis unavailable",
    });
    expect(c?.data).toEqual({ in_flight: 0 });
    // Two requests of >= 40 ms each plus the 1 ms one, all in whole nanoseconds.
    expect(Number.isInteger(c?.processing_time)).toBe(true);
    expect(c?.processing_time).toBeGreaterThanOrEqual(81_000_000);
    expect(c?.average_processing_time).toBe(Math.trunc((c?.processing_time ?? 0) / 3));
    const other = s.endpoints.find((e) => e.name === "sessions");
    expect(other).toMatchObject({ num_requests: 0, processing_time: 0 });
    expect(other).not.toHaveProperty("data");

    // The same numbers are available locally.
    expect((await d.stats()).endpoints[0]).toEqual(c);

    const before = s.started;
    await sleep(5);
    d.resetStats();
    const r = (await client.request(`$SRV.STATS.${name}.${d.id}`)).json<StatsResponse>();
    expect(r.endpoints[0]).toMatchObject({
      num_requests: 0,
      num_errors: 0,
      last_error: "",
      processing_time: 0,
      average_processing_time: 0,
    });
    expect(r.started > before).toBe(true);
  });

  it("a failing statsData leaves data out and reports the error", async () => {
    const svc = await newConnection();
    const errors: Error[] = [];
    const d = startDiscovery(svc, describeService(uniqueName()), () => undefined, {
      statsData: () => Promise.reject(new Error("boom")),
      onError: (e) => errors.push(e),
    });
    started.push(d);
    const s = (await svc.request(`$SRV.STATS.${d.ping().name}.${d.id}`)).json<StatsResponse>();
    expect(s.endpoints).toHaveLength(2);
    expect(s.endpoints[0]).not.toHaveProperty("data");
    expect(errors.map((e) => e.message)).toEqual(["boom", "boom"]);
  });

  it("stop() stops answering and is idempotent", async () => {
    const svc = await newConnection();
    const client = await newConnection();
    const name = uniqueName();
    const d = startDiscovery(svc, describeService(name), () => undefined);
    await svc.flush();
    expect((await client.request(`$SRV.PING.${name}.${d.id}`)).json<PingResponse>().id).toBe(d.id);

    const p = d.stop();
    expect(d.stop()).toBe(p);
    await p;
    expect(d.stopped).toBe(true);

    // Nobody is left on the name and id forms: the server answers "no responders".
    for (const subject of [`$SRV.INFO.${name}.${d.id}`, `$SRV.PING.${name}`]) {
      const err = await client.request(subject, undefined, { timeout: 1000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, subject).toBeInstanceOf(RequestError);
      expect((err as RequestError).isNoResponders(), subject).toBe(true);
    }
    const all = await collect(client, "$SRV.PING");
    expect(all.map((m) => m.json<PingResponse>().id)).not.toContain(d.id);
  });

  it("stop() after the connection closed resolves", async () => {
    const svc = await newConnection();
    const d = startDiscovery(svc, describeService(uniqueName()), () => undefined);
    await svc.close();
    await expect(d.stop()).resolves.toBeUndefined();
  });

  it("rejects names and versions that ADR-32 clients would refuse", async () => {
    const nc = await newConnection();
    const base = describeService("redis-binding");
    expect(() => startDiscovery(nc, { ...base, name: "redis.binding" }, () => undefined)).toThrow(
      /service name/,
    );
    expect(() => startDiscovery(nc, { ...base, version: "1.0" }, () => undefined)).toThrow(
      /SemVer/,
    );
    expect(() =>
      startDiscovery(
        nc,
        { ...base, endpoints: [{ name: "a.b", subject: "bindings.a.b", queueGroup: "" }] },
        () => undefined,
      ),
    ).toThrow(/endpoint name/);
  });
});

describe("EndpointStatsRecorder", () => {
  it("counts requests, errors and time; average is truncated and 0 when idle", () => {
    const r = new EndpointStatsRecorder();
    expect(r.snapshot()).toEqual({
      num_requests: 0,
      num_errors: 0,
      last_error: "",
      processing_time: 0,
      average_processing_time: 0,
    });
    r.recordDuration(10);
    r.recordDuration(11, "500:first");
    r.recordDuration(0, "400:second");
    expect(r.snapshot()).toEqual({
      num_requests: 3,
      num_errors: 2,
      last_error: "400:second",
      processing_time: 21,
      average_processing_time: 7,
    });
    r.reset();
    expect(r.snapshot().num_requests).toBe(0);
  });
});
