import { execFile } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type NatsServer, startNats } from "../harness/nats.js";
import { getFreePort, isPortFree } from "../harness/ports.js";
import { canConnect, killAllServers, liveServerCount, spawnServer } from "../harness/process.js";
import { type RedisServer, startRedis } from "../harness/redis.js";
import {
  chooseServerSource,
  findBinary,
  natsServer,
  redisServer,
  type SourceDeps,
} from "../harness/servers.js";
import { startTcpProxy, type TcpProxy } from "../harness/tcp-proxy.js";

const execFileAsync = promisify(execFile);
const HOST_PORTS = [4222, 6379];

/** Sends one inline Redis command on a raw socket and resolves with the first reply chunk. */
function rawCommand(socket: Socket, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => cleanup(new Error("timeout")), timeoutMs);
    const onData = (chunk: Buffer) => cleanup(undefined, chunk.toString());
    const onEnd = (err?: Error) => cleanup(err ?? new Error("closed"));
    function cleanup(err?: Error, value?: string) {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onEnd);
      socket.off("close", onEnd);
      if (err) reject(err);
      else resolve(value ?? "");
    }
    socket.on("data", onData);
    socket.once("error", onEnd);
    socket.once("close", () => onEnd());
    socket.write(`${command}\r\n`);
  });
}

async function rawConnect(port: number): Promise<Socket> {
  const socket = netConnect({ host: "127.0.0.1", port });
  socket.on("error", () => undefined);
  await once(socket, "connect");
  return socket;
}

/** A Redis client that fails fast instead of retrying, to observe outages directly. */
function strictRedis(port: number, extra: Record<string, unknown> = {}): Redis {
  const redis = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    ...extra,
  });
  // Failures are asserted through the command promises; the events would only be noise.
  redis.on("error", () => undefined);
  return redis;
}

describe("ports", () => {
  it("hands out distinct free ports, never the host services' ports", async () => {
    const ports = await Promise.all(Array.from({ length: 10 }, () => getFreePort()));
    expect(new Set(ports).size).toBe(10);
    for (const port of ports) {
      expect(HOST_PORTS).not.toContain(port);
      expect(await isPortFree(port)).toBe(true);
    }
  });
});

describe("nats-server", () => {
  let server: NatsServer;
  let nc: NatsConnection | undefined;

  beforeAll(async () => {
    server = await startNats({ monitor: true });
  });
  afterEach(async () => {
    await nc?.close();
    nc = undefined;
  });
  afterAll(async () => {
    await server?.close();
  });

  it("starts on a free port and serves request/reply", async () => {
    expect(HOST_PORTS).not.toContain(server.port);
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    nc = await connect({ servers: server.url });
    const sub = nc.subscribe("echo", {
      callback: (_err, msg) => {
        msg.respond(`re:${msg.string()}`);
      },
    });
    const reply = await nc.request("echo", "hi", { timeout: 2000 });
    expect(reply.string()).toBe("re:hi");
    sub.unsubscribe();
  });

  it("exposes the monitoring endpoint when asked", async () => {
    expect(server.monitorUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${server.monitorUrl}/healthz`);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("stop refuses connections; restart comes back on the same port", async () => {
    nc = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    nc.subscribe("echo", {
      callback: (_err, msg) => {
        msg.respond("pong");
      },
    });
    await nc.flush();

    await server.stop();
    expect(await canConnect("127.0.0.1", server.port)).toBe(false);
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow();

    await server.start();
    expect(await canConnect("127.0.0.1", server.port)).toBe(true);
    // The first client reconnects by itself and its subscription is restored.
    await vi.waitFor(async () => {
      const reply = await nc?.request("echo", "", { timeout: 500 });
      expect(reply?.string()).toBe("pong");
    });

    await server.restart();
    const log = readFileSync(server.logFile ?? "", "utf8");
    expect(log.match(/Server is ready/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
  });
});

describe("nats-server with JetStream", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNats({ jetstream: true });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("answers $JS.API.INFO and keeps streams across a restart (same store dir)", async () => {
    let nc = await connect({ servers: server.url });
    const info = (await nc.request("$JS.API.INFO", "", { timeout: 2000 })).json<{
      type: string;
      error?: unknown;
    }>();
    expect(info.error).toBeUndefined();
    expect(info.type).toBe("io.nats.jetstream.api.v1.account_info_response");

    const created = (
      await nc.request(
        "$JS.API.STREAM.CREATE.HARNESS",
        JSON.stringify({ name: "HARNESS", subjects: ["harness.>"], storage: "file" }),
        { timeout: 5000 },
      )
    ).json<{ error?: unknown }>();
    expect(created.error).toBeUndefined();
    await nc.close();

    await server.restart();

    nc = await connect({ servers: server.url });
    const stream = (await nc.request("$JS.API.STREAM.INFO.HARNESS", "", { timeout: 5000 })).json<{
      config?: { name: string };
      error?: unknown;
    }>();
    expect(stream.error).toBeUndefined();
    expect(stream.config?.name).toBe("HARNESS");
    await nc.close();
  });

  it("a server without JetStream has no responders for $JS.API.INFO", async () => {
    const plain = await startNats();
    const nc = await connect({ servers: plain.url });
    try {
      await expect(nc.request("$JS.API.INFO", "", { timeout: 2000 })).rejects.toThrow(
        /no responders|503/i,
      );
    } finally {
      await nc.close();
      await plain.close();
    }
  });
});

describe("nats-server with extra config", () => {
  it("applies the config text (token auth)", async () => {
    const server = await startNats({ config: 'authorization { token: "s3cret" }\n' });
    try {
      await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow(
        /authorization/i,
      );
      const nc = await connect({ servers: server.url, token: "s3cret" });
      await nc.flush();
      await nc.close();
    } finally {
      await server.close();
    }
  });
});

describe("redis-server", () => {
  let server: RedisServer;
  const clients: Redis[] = [];
  const client = (extra: Record<string, unknown> = {}) => {
    const c = strictRedis(server.port, extra);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await server?.close();
  });

  it("starts on a free port; SET/GET work through ioredis and cli()", async () => {
    expect(HOST_PORTS).not.toContain(server.port);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    const redis = client();
    await redis.connect();
    expect(await redis.set("greeting", "hello")).toBe("OK");
    expect(await redis.get("greeting")).toBe("hello");
    expect(await server.cli("GET", "greeting")).toBe("hello");
    expect(await server.cli("CONFIG", "GET", "appendonly")).toBe("appendonly\nno");
    expect(await server.cli("CONFIG", "GET", "save")).toBe("save\n");
  });

  it("stop makes connections fail; start brings it back on the same port, empty", async () => {
    const before = client();
    await before.connect();
    await before.set("k", "v");
    const closed = once(before, "end");

    await server.stop();
    await closed;
    await expect(client().connect()).rejects.toThrow(/ECONNREFUSED|Connection is closed/);
    await expect(server.cli("PING")).rejects.toThrow();

    await server.start();
    const after = client();
    await after.connect();
    expect(await after.ping()).toBe("PONG");
    // No persistence: a restarted server starts empty.
    expect(await after.get("k")).toBeNull();

    await server.restart();
    expect(await server.cli("PING")).toBe("PONG");
  });
});

describe("redis-server variants", () => {
  it("password: cli() authenticates, clients without it get NOAUTH", async () => {
    const server = await startRedis({ password: "pw" });
    const anonymous = await rawConnect(server.port);
    const authed = strictRedis(server.port, { password: "pw" });
    try {
      expect(await server.cli("PING")).toBe("PONG");
      expect(await rawCommand(anonymous, "PING")).toMatch(/^-NOAUTH/);
      await authed.connect();
      expect(await authed.ping()).toBe("PONG");
    } finally {
      anonymous.destroy();
      authed.disconnect();
      await server.close();
    }
  });

  it("tls: true generates certificates and serves TLS only", async () => {
    const server = await startRedis({ tls: true });
    const tls = server.tls;
    expect(tls).toBeDefined();
    expect(server.url).toBe(`rediss://127.0.0.1:${server.port}`);
    const redis = strictRedis(server.port, {
      tls: { ca: readFileSync(tls?.caFile ?? ""), servername: "localhost" },
    });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe("PONG");
      expect(await server.cli("PING")).toBe("PONG");
      // Plain text on the TLS port is not understood.
      const plain = strictRedis(server.port, { connectTimeout: 1000 });
      await expect(plain.connect().then(() => plain.ping())).rejects.toThrow();
      plain.disconnect();
    } finally {
      redis.disconnect();
      await server.close();
    }
  });

  it("extra args are passed on", async () => {
    const server = await startRedis({ args: ["--maxmemory", "10mb"] });
    try {
      expect(await server.cli("CONFIG", "GET", "maxmemory")).toBe("maxmemory\n10485760");
    } finally {
      await server.close();
    }
  });
});

describe("tcp proxy", () => {
  let server: RedisServer;
  let proxy: TcpProxy;
  beforeAll(async () => {
    server = await startRedis();
    proxy = await startTcpProxy(server.host, server.port);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
  });

  it("forwards; cut resets live connections and refuses new ones; restore works", async () => {
    const socket = await rawConnect(proxy.port);
    expect(await rawCommand(socket, "PING")).toBe("+PONG\r\n");
    expect(proxy.connections).toBe(1);

    proxy.cut();
    await vi.waitFor(() => expect(socket.destroyed).toBe(true));
    expect(proxy.connections).toBe(0);
    const refused = netConnect({ host: "127.0.0.1", port: proxy.port });
    const [err] = await once(refused, "error");
    expect((err as NodeJS.ErrnoException).code).toBe("ECONNRESET");

    proxy.restore();
    const again = await rawConnect(proxy.port);
    expect(await rawCommand(again, "PING")).toBe("+PONG\r\n");
    again.destroy();
  });

  it("setDelay holds traffic in both directions", async () => {
    const socket = await rawConnect(proxy.port);
    try {
      proxy.setDelay(150);
      const started = Date.now();
      expect(await rawCommand(socket, "PING")).toBe("+PONG\r\n");
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      proxy.setDelay(0);
      const fast = Date.now();
      expect(await rawCommand(socket, "PING")).toBe("+PONG\r\n");
      expect(Date.now() - fast).toBeLessThan(150);
    } finally {
      proxy.setDelay(0);
      socket.destroy();
    }
  });

  it("blackhole stalls without closing; restore delivers the held bytes", async () => {
    const socket = await rawConnect(proxy.port);
    try {
      proxy.blackhole();
      const pending = rawCommand(socket, "PING", 5000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(socket.destroyed).toBe(false);
      proxy.restore();
      expect(await pending).toBe("+PONG\r\n");
    } finally {
      proxy.restore();
      socket.destroy();
    }
  });

  it("an ioredis client recovers once the line is restored", async () => {
    const redis = new Redis({
      host: "127.0.0.1",
      port: proxy.port,
      retryStrategy: () => 50,
      maxRetriesPerRequest: 1,
    });
    redis.on("error", () => undefined);
    try {
      expect(await redis.set("via-proxy", "1")).toBe("OK");
      proxy.cut();
      await expect(redis.get("via-proxy")).rejects.toThrow();
      proxy.restore();
      await vi.waitFor(async () => expect(await redis.get("via-proxy")).toBe("1"), {
        timeout: 5000,
      });
    } finally {
      proxy.restore();
      redis.disconnect();
    }
  });

  it("resets the client when the target is down", async () => {
    await server.stop();
    try {
      const socket = netConnect({ host: "127.0.0.1", port: proxy.port });
      const closed = new Promise<boolean>((resolve) => socket.once("close", resolve));
      const error = new Promise<unknown>((resolve) => socket.once("error", resolve));
      // The proxy accepts, fails to reach Redis, and resets the client's connection.
      expect(await closed).toBe(true);
      expect(((await error) as NodeJS.ErrnoException).code).toBe("ECONNRESET");
    } finally {
      await server.start();
    }
  });
});

describe("server source chooser", () => {
  const deps = (env: NodeJS.ProcessEnv, found: string[] = [], containers?: string): SourceDeps => ({
    env,
    findBinary: async (name) => (found.includes(name) ? `/opt/bin/${name}` : undefined),
    containerRuntimeProblem: async () => containers,
  });
  const none = "no container engine answers";

  it("TEST_SERVERS=binaries without the binary says what to install", async () => {
    await expect(
      chooseServerSource("nats", {}, deps({ TEST_SERVERS: "binaries" }, [], undefined)),
    ).rejects.toThrow(
      /nats-server is not on PATH: apt-get install -y nats-server redis-server redis-tools/,
    );
    await expect(
      chooseServerSource("redis", {}, deps({ TEST_SERVERS: "binaries" }, ["redis-server"])),
    ).rejects.toThrow(/redis-cli is not on PATH/);
  });

  it("prefers env URLs, then binaries, then containers", async () => {
    const all = ["nats-server", "redis-server", "redis-cli"];
    expect(
      await chooseServerSource("nats", {}, deps({ TEST_NATS_URL: "nats://h:1" }, all)),
    ).toEqual({ source: "env", url: "nats://h:1" });
    expect(await chooseServerSource("redis", {}, deps({}, all))).toEqual({
      source: "binaries",
      binaries: { "redis-server": "/opt/bin/redis-server", "redis-cli": "/opt/bin/redis-cli" },
    });
    expect(await chooseServerSource("redis", {}, deps({}, [], undefined))).toEqual({
      source: "containers",
    });
  });

  it("a suite that needs its own configuration skips the env URL", async () => {
    const env = { TEST_REDIS_URL: "redis://h:1" };
    expect(
      (
        await chooseServerSource(
          "redis",
          { custom: true },
          deps(env, ["redis-server", "redis-cli"]),
        )
      ).source,
    ).toBe("binaries");
    await expect(
      chooseServerSource("redis", { custom: true }, deps({ ...env, TEST_SERVERS: "env" })),
    ).rejects.toThrow(/own configuration/);
  });

  it("fails with the install hint when nothing is available", async () => {
    await expect(chooseServerSource("redis", {}, deps({}, [], none))).rejects.toThrow(
      /apt-get install -y nats-server redis-server redis-tools.*Docker engine/,
    );
    await expect(
      chooseServerSource("nats", {}, deps({ TEST_SERVERS: "containers" }, ["nats-server"], none)),
    ).rejects.toThrow(/TEST_SERVERS=containers but no container engine answers.*Docker engine/);
    await expect(chooseServerSource("nats", {}, deps({ TEST_SERVERS: "env" }))).rejects.toThrow(
      /TEST_NATS_URL is not set/,
    );
    await expect(chooseServerSource("nats", {}, deps({ TEST_SERVERS: "docker" }))).rejects.toThrow(
      /not understood/,
    );
  });

  it("findBinary searches PATH, then the sbin dirs Debian uses for nats-server", async () => {
    expect(await findBinary("redis-server", "/usr/bin")).toBe("/usr/bin/redis-server");
    expect(await findBinary("nats-server", "/nonexistent")).toBe("/usr/sbin/nats-server");
    expect(await findBinary("no-such-server-binary", "/usr/bin")).toBeUndefined();
  });
});

describe("natsServer / redisServer", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("use the binaries here by default", async () => {
    vi.stubEnv("TEST_SERVERS", "");
    vi.stubEnv("TEST_NATS_URL", "");
    vi.stubEnv("TEST_REDIS_URL", "");
    const nats = await natsServer();
    const redis = await redisServer();
    try {
      expect(nats.source).toBe("binaries");
      expect(redis.source).toBe("binaries");
      expect(await redis.cli("PING")).toBe("PONG");
      const nc = await connect({ servers: nats.url });
      await nc.close();
    } finally {
      await nats.close();
      await redis.close();
    }
  });

  it("an env URL is used as is; stop/restart throw a clear error", async () => {
    const real = await startRedis();
    try {
      vi.stubEnv("TEST_SERVERS", "");
      vi.stubEnv("TEST_REDIS_URL", real.url);
      vi.stubEnv("TEST_NATS_URL", "nats://127.0.0.1:1");
      const redis = await redisServer();
      expect(redis.source).toBe("env");
      expect(redis.port).toBe(real.port);
      expect(await redis.cli("PING")).toBe("PONG");
      await expect(redis.stop()).rejects.toThrow(/not supported .* TEST_REDIS_URL/);
      await expect(redis.restart()).rejects.toThrow(/TEST_SERVERS=binaries/);
      await redis.close();
      expect(await real.cli("PING")).toBe("PONG");

      const nats = await natsServer();
      expect(nats).toMatchObject({ source: "env", url: "nats://127.0.0.1:1", port: 1 });
      await expect(nats.restart()).rejects.toThrow(/TEST_NATS_URL/);
    } finally {
      await real.close();
    }
  });
});

// The same checks through natsServer()/redisServer(), whatever source they pick: run the file with
// TEST_SERVERS=containers (and a Docker engine) to prove the testcontainers path.
describe(`chosen source (TEST_SERVERS=${process.env.TEST_SERVERS || "auto"})`, () => {
  let nats: NatsServer;
  let redis: RedisServer;
  beforeAll(async () => {
    [nats, redis] = await Promise.all([
      natsServer({ jetstream: true, monitor: true }),
      redisServer(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([nats?.close(), redis?.close()]);
  });
  const owned = () => nats.source !== "env" && redis.source !== "env";

  it("nats: request/reply, JetStream, monitoring, restart on the same port", async () => {
    if (process.env.TEST_SERVERS === "containers") expect(nats.source).toBe("containers");
    const nc = await connect({
      servers: nats.url,
      reconnectTimeWait: 100,
      maxReconnectAttempts: -1,
    });
    try {
      nc.subscribe("svc", {
        callback: (_err, msg) => {
          msg.respond("ok");
        },
      });
      expect((await nc.request("svc", "", { timeout: 2000 })).string()).toBe("ok");
      const info = (await nc.request("$JS.API.INFO", "", { timeout: 2000 })).json<{
        error?: unknown;
      }>();
      expect(info.error).toBeUndefined();
      expect(await (await fetch(`${nats.monitorUrl}/healthz`)).json()).toEqual({ status: "ok" });
      if (!owned()) return;
      const port = nats.port;
      await nats.stop();
      expect(await canConnect(nats.host, port)).toBe(false);
      await nats.start();
      expect(nats.port).toBe(port);
      await vi.waitFor(async () => {
        expect((await nc.request("svc", "", { timeout: 500 })).string()).toBe("ok");
      });
    } finally {
      await nc.close();
    }
  });

  it("redis: SET/GET, cli(), stop/start on the same port", async () => {
    if (process.env.TEST_SERVERS === "containers") expect(redis.source).toBe("containers");
    const client = strictRedis(redis.port, { host: redis.host });
    try {
      await client.connect();
      await client.set("chosen", "yes");
      expect(await redis.cli("GET", "chosen")).toBe("yes");
      if (!owned()) return;
      await redis.stop();
      await expect(redis.cli("PING")).rejects.toThrow();
      expect(await canConnect(redis.host, redis.port)).toBe(false);
      await redis.start();
      expect(await redis.cli("PING")).toBe("PONG");
      const again = strictRedis(redis.port, { host: redis.host });
      await again.connect();
      expect(await again.ping()).toBe("PONG");
      again.disconnect();
    } finally {
      client.disconnect();
    }
  });
});

describe("leak protection", () => {
  it("killAllServers kills every live server (what the exit hook runs)", async () => {
    expect(liveServerCount()).toBe(0);
    const port = await getFreePort();
    const proc = await spawnServer({
      name: "redis-server",
      command: "redis-server",
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", ""],
      logFile: "/dev/null",
      ready: () => canConnect("127.0.0.1", port),
    });
    expect(liveServerCount()).toBe(1);
    killAllServers();
    expect(await proc.exited).toEqual({ code: null, signal: "SIGKILL" });
    expect(liveServerCount()).toBe(0);
  });

  it("a startup failure reports the server's own output", async () => {
    await expect(startRedis({ args: ["--no-such-option", "x"] })).rejects.toThrow(
      /exited during startup[\s\S]*no-such-option/,
    );
  });

  // A separate Node process loads the harness (type stripping plus a .js -> .ts resolve hook),
  // starts servers, then ends in three different ways; nothing may survive it.
  const harnessDir = fileURLToPath(new URL("../harness/", import.meta.url));
  const script = (ending: string) => `
    import { registerHooks } from "node:module";
    registerHooks({
      resolve(specifier, context, next) {
        try { return next(specifier, context); } catch (err) {
          if (specifier.startsWith(".") && specifier.endsWith(".js")) {
            return next(specifier.slice(0, -3) + ".ts", context);
          }
          throw err;
        }
      },
    });
    const { startRedis } = await import(${JSON.stringify(`${harnessDir}redis.ts`)});
    const { startNats } = await import(${JSON.stringify(`${harnessDir}nats.ts`)});
    const redis = await startRedis();
    const nats = await startNats({ jetstream: true });
    console.log(JSON.stringify({ ports: [redis.port, nats.port], dirs: [redis.dir, nats.dir] }));
    ${ending}
  `;

  it.each([
    ["the event loop empties", ""],
    ["process.exit() is called", "process.exit(0);"],
    ["SIGTERM arrives", "process.kill(process.pid, 'SIGTERM'); setInterval(() => {}, 1000);"],
  ])("nothing outlives the test process when %s", async (_name, ending) => {
    const { stdout } = await execFileAsync(
      process.execPath,
      ["--no-warnings", "--input-type=module", "-e", script(ending)],
      { timeout: 20_000 },
    ).catch((err: { stdout?: string; signal?: string }) => {
      // Dying from the re-raised SIGTERM is the expected ending of the third case.
      if (err.signal === "SIGTERM" && err.stdout) return { stdout: err.stdout };
      throw err;
    });
    const { ports, dirs } = JSON.parse(stdout) as { ports: number[]; dirs: string[] };
    for (const port of ports) {
      await vi.waitFor(async () => expect(await canConnect("127.0.0.1", port)).toBe(false));
    }
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });
});
