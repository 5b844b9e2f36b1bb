import { execFile, spawnSync } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { createConnection } from "node:net";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import type { StartedTestContainer } from "testcontainers";
import { type NatsOptions, type NatsServer, startNats } from "./nats.js";
import { getFreePort } from "./ports.js";
import { makeTempDir, onTestProcessExit, type ServerSource } from "./process.js";
import {
  cliConnectionArgs,
  type RedisOptions,
  type RedisServer,
  type RedisTlsFiles,
  resolveTls,
  startRedis,
} from "./redis.js";

export type { NatsOptions, NatsServer } from "./nats.js";
export type { RedisOptions, RedisServer } from "./redis.js";

export type ServerKind = "nats" | "redis";

/** What to run: apt package names are Debian's; redis-cli comes with redis-tools. */
export const INSTALL_HINT =
  "apt-get install -y nats-server redis-server redis-tools" +
  " (or run a Docker engine so testcontainers can start nats:2 / redis:7," +
  " or set TEST_NATS_URL / TEST_REDIS_URL to running servers)";

const ENV_URL: Record<ServerKind, string> = { nats: "TEST_NATS_URL", redis: "TEST_REDIS_URL" };
/** redis-cli is needed too: it is the readiness probe and cli(). */
const BINARIES: Record<ServerKind, string[]> = {
  nats: ["nats-server"],
  redis: ["redis-server", "redis-cli"],
};
const IMAGES: Record<ServerKind, string> = { nats: "nats:2", redis: "redis:7" };
const SOURCES: readonly ServerSource[] = ["env", "binaries", "containers"];

/**
 * Debian installs nats-server in /usr/sbin, which is not on an ordinary user's PATH; looking
 * there after PATH finds the packaged binary anyway.
 */
const SBIN_FALLBACK = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/** The absolute path of an executable `name` on `pathEnv` (then the sbin dirs), if any. */
export async function findBinary(
  name: string,
  pathEnv = process.env.PATH ?? "",
): Promise<string | undefined> {
  const dirs = pathEnv.split(delimiter).filter(Boolean);
  for (const dir of SBIN_FALLBACK) if (!dirs.includes(dir)) dirs.push(dir);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here: keep looking.
    }
  }
  return undefined;
}

type Testcontainers = typeof import("testcontainers");

let testcontainers: Promise<Testcontainers> | undefined;
/**
 * Loaded on first use only: it is a large module graph, and most runs never need it. Ryuk (the
 * reaper container) cannot be pulled on these machines, so it is disabled unless the caller set
 * the variable; our own exit hook removes containers instead.
 */
function loadTestcontainers(): Promise<Testcontainers> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
  testcontainers ??= import("testcontainers");
  return testcontainers;
}

let runtimeCheck: Promise<string | undefined> | undefined;
/** undefined when a container engine answers, else the reason it cannot be used. */
function containerRuntimeProblem(): Promise<string | undefined> {
  runtimeCheck ??= (async () => {
    let tc: Testcontainers;
    try {
      tc = await loadTestcontainers();
    } catch (err) {
      return `testcontainers is not installed (npm install -D testcontainers): ${(err as Error).message}`;
    }
    try {
      await tc.getContainerRuntimeClient();
      return undefined;
    } catch (err) {
      return `no container engine answers: ${(err as Error).message}`;
    }
  })();
  return runtimeCheck;
}

export interface SourceDeps {
  env: NodeJS.ProcessEnv;
  /** Absolute path of an executable, or undefined when it is not installed. */
  findBinary: (name: string) => Promise<string | undefined>;
  /** undefined when containers can be started, else why not. */
  containerRuntimeProblem: () => Promise<string | undefined>;
}

export type SourceChoice =
  | { source: "env"; url: string }
  | { source: "binaries"; binaries: Record<string, string> }
  | { source: "containers" };

export interface ChooseOptions {
  /**
   * The suite asked for a server set up its own way (config, args, TLS, password): an external
   * server from the environment cannot provide that, so the env source is skipped.
   */
  custom?: boolean;
}

function defaultDeps(): SourceDeps {
  return { env: process.env, findBinary: (name) => findBinary(name), containerRuntimeProblem };
}

/**
 * Picks where a test server comes from: (1) a URL from the environment, (2) binaries on PATH,
 * (3) testcontainers; TEST_SERVERS=env|binaries|containers forces one of them. Throws an error
 * that says what to install when nothing fits.
 */
export async function chooseServerSource(
  kind: ServerKind,
  options: ChooseOptions = {},
  deps: SourceDeps = defaultDeps(),
): Promise<SourceChoice> {
  const rawForced = deps.env.TEST_SERVERS?.trim().toLowerCase() || undefined;
  if (rawForced !== undefined && !SOURCES.includes(rawForced as ServerSource)) {
    throw new Error(
      `TEST_SERVERS=${deps.env.TEST_SERVERS} is not understood: use one of ${SOURCES.join(", ")}`,
    );
  }
  const forced = rawForced as ServerSource | undefined;
  const envName = ENV_URL[kind];
  const url = deps.env[envName]?.trim() || undefined;

  if (forced === "env") {
    if (!url)
      throw new Error(`TEST_SERVERS=env but ${envName} is not set: set it to a ${kind} URL`);
    if (options.custom) {
      throw new Error(
        `TEST_SERVERS=env: this suite needs a ${kind} server with its own configuration, which ` +
          `${envName} cannot provide; run it with TEST_SERVERS=binaries or containers`,
      );
    }
    return { source: "env", url };
  }
  if (forced === undefined && url && !options.custom) return { source: "env", url };

  if (forced === undefined || forced === "binaries") {
    const found: Record<string, string> = {};
    const missing: string[] = [];
    for (const name of BINARIES[kind]) {
      const path = await deps.findBinary(name);
      if (path) found[name] = path;
      else missing.push(name);
    }
    if (missing.length === 0) return { source: "binaries", binaries: found };
    if (forced === "binaries") {
      throw new Error(
        `TEST_SERVERS=binaries but ${missing.join(", ")} is not on PATH: ` +
          "apt-get install -y nats-server redis-server redis-tools",
      );
    }
  }

  const problem = await deps.containerRuntimeProblem();
  if (!problem) return { source: "containers" };
  if (forced === "containers") {
    throw new Error(
      `TEST_SERVERS=containers but ${problem}. Run a Docker engine (e.g. ` +
        `\`eval "$(sudo tools/containers setup)"\`) with the ${IMAGES[kind]} image available`,
    );
  }
  throw new Error(
    `No ${kind} server for the tests: ${BINARIES[kind].join(" and ")} not found on PATH and ` +
      `containers are unavailable (${problem}). Install: ${INSTALL_HINT}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Servers given by URL.

function unsupported(what: string, envName: string): () => Promise<never> {
  return () =>
    Promise.reject(
      new Error(
        `${what}() is not supported for the server given by ${envName}: the harness does not own ` +
          `it. Unset ${envName} (or set TEST_SERVERS=binaries) to run tests that stop or restart it`,
      ),
    );
}

function parseUrl(raw: string, envName: string, defaultPort: number): URL & { portNumber: number } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(
      `${envName}=${raw} is not a URL (expected e.g. scheme://127.0.0.1:${defaultPort})`,
    );
  }
  return Object.assign(url, { portNumber: url.port ? Number(url.port) : defaultPort });
}

function natsFromEnv(raw: string): NatsServer {
  const url = parseUrl(raw, ENV_URL.nats, 4222);
  return {
    source: "env",
    url: raw,
    host: url.hostname,
    port: url.portNumber,
    monitorUrl: process.env.TEST_NATS_MONITOR_URL || undefined,
    dir: undefined,
    logFile: undefined,
    stop: unsupported("stop", ENV_URL.nats),
    start: unsupported("start", ENV_URL.nats),
    restart: unsupported("restart", ENV_URL.nats),
    // Teardown of a server we do not own is a no-op, so afterAll(close) works in every mode.
    close: async () => undefined,
  };
}

function redisFromEnv(raw: string): RedisServer {
  const url = parseUrl(raw, ENV_URL.redis, 6379);
  return {
    source: "env",
    url: raw,
    host: url.hostname,
    port: url.portNumber,
    tls: undefined,
    dir: undefined,
    logFile: undefined,
    stop: unsupported("stop", ENV_URL.redis),
    start: unsupported("start", ENV_URL.redis),
    restart: unsupported("restart", ENV_URL.redis),
    close: async () => undefined,
    async cli(...args) {
      const bin = await findBinary("redis-cli");
      if (!bin) throw new Error(`redis-cli is not installed: ${INSTALL_HINT}`);
      // -u takes the whole URL, credentials and rediss:// included.
      const { stdout } = await promisify(execFile)(bin, ["-u", raw, "--no-auth-warning", ...args], {
        timeout: 10_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout.endsWith("\n") ? stdout.slice(0, -1) : stdout;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Containers. Host ports are fixed (free ports picked here) so that stop/start keeps the URL.

interface ContainerLifecycle {
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Answers true once the server in the container serves again. */
type ReadyProbe = () => Promise<boolean>;

const RESTART_READY_MS = 60_000;

async function lifecycle(
  container: StartedTestContainer,
  isReady: ReadyProbe,
): Promise<ContainerLifecycle> {
  const tc = await loadTestcontainers();
  const id = container.getId();
  // Without Ryuk nothing else removes a container a crashed suite left behind.
  const unregister = onTestProcessExit(() => {
    spawnSync("docker", ["rm", "-f", "-v", id], { stdio: "ignore", timeout: 15_000 });
  });
  let running = true;
  const stop = async () => {
    if (!running) return;
    // StartedTestContainer.stop() remembers its first call and would make a later stop() a
    // no-op, and by default removes the container; the runtime client stops it and nothing else.
    const client = await tc.getContainerRuntimeClient();
    await client.container.stop(client.container.getById(id), { timeout: 10_000 });
    running = false;
  };
  const start = async () => {
    if (running) return;
    // A plain `docker start`, then the server itself is asked, instead of
    // testcontainers' restart(), whose only open-ended wait is its wait
    // strategy on a followed log stream. Twice in CI a NATS container's
    // stop and start overran a test's 30 s (about 1 s otherwise); a probe we
    // poll is bounded and says what it waited for.
    const client = await tc.getContainerRuntimeClient();
    await client.container.start(client.container.getById(id));
    running = true;
    const deadline = Date.now() + RESTART_READY_MS;
    while (!(await isReady().catch(() => false))) {
      if (Date.now() > deadline) {
        throw new Error(
          `container ${id.slice(0, 12)} started again but its server did not answer within ${RESTART_READY_MS} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return {
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    async close() {
      await container.stop({ remove: true, removeVolumes: true, timeout: 10_000 });
      unregister();
    },
  };
}

async function natsContainer(options: NatsOptions): Promise<NatsServer> {
  const { GenericContainer, Wait } = await loadTestcontainers();
  const port = await getFreePort();
  const monitorPort = options.monitor ? await getFreePort() : undefined;
  let builder = new GenericContainer(IMAGES.nats)
    .withExposedPorts(
      { container: 4222, host: port },
      ...(monitorPort !== undefined ? [{ container: 8222, host: monitorPort }] : []),
    )
    .withCommand([
      ...(options.config !== undefined ? ["-c", "/etc/nats/test.conf"] : []),
      "-p",
      "4222",
      ...(monitorPort !== undefined ? ["-m", "8222"] : []),
      ...(options.jetstream ? ["-js", "-sd", "/data"] : []),
      ...(options.args ?? []),
    ])
    .withWaitStrategy(Wait.forLogMessage("Server is ready"))
    .withStartupTimeout(options.readyTimeoutMs ?? 60_000);
  if (options.config !== undefined) {
    builder = builder.withCopyContentToContainer([
      { content: options.config, target: "/etc/nats/test.conf" },
    ]);
  }
  const container = await builder.start();
  const host = container.getHost();
  return {
    source: "containers",
    url: `nats://${host}:${port}`,
    host,
    port,
    monitorUrl: monitorPort !== undefined ? `http://${host}:${monitorPort}` : undefined,
    dir: undefined,
    logFile: undefined,
    ...(await lifecycle(container, () => greetsWithInfo(host, port))),
  };
}

/**
 * nats-server sends its INFO line as soon as a client connects (before any
 * TLS). Docker's port proxy accepts connections while nothing listens behind
 * it, so a connect alone proves nothing; the greeting does.
 */
function greetsWithInfo(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ready: boolean) => {
      socket.destroy();
      resolve(ready);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("data", (chunk) => done(chunk.toString("latin1").startsWith("INFO ")));
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

async function redisContainer(options: RedisOptions): Promise<RedisServer> {
  const { GenericContainer, Wait } = await loadTestcontainers();
  const port = await getFreePort();
  const hostTls: RedisTlsFiles | undefined = options.tls
    ? await resolveTls(options.tls, await makeTempDir("redis-tls"))
    : undefined;
  // Certificates are copied in; inside the container they live under /tls.
  const inside: RedisTlsFiles | undefined = hostTls && {
    caFile: "/tls/ca.crt",
    certFile: "/tls/server.crt",
    keyFile: "/tls/server.key",
    ...(hostTls.clientCertFile && hostTls.clientKeyFile
      ? { clientCertFile: "/tls/client.crt", clientKeyFile: "/tls/client.key" }
      : {}),
  };
  const authClients =
    options.tls && options.tls !== true ? (options.tls.authClients ?? "no") : "no";
  const cliArgs = ["redis-cli", "-p", "6379", ...cliConnectionArgs(inside, options.password)];
  // PING via redis-cli inside the container, as for a local process; NOAUTH also means "up".
  const pingCommand = `${cliArgs.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ")} PING | grep -qE 'PONG|NOAUTH'`;

  let builder = new GenericContainer(IMAGES.redis)
    .withExposedPorts({ container: 6379, host: port })
    .withCommand([
      "redis-server",
      ...(options.config !== undefined ? ["/usr/local/etc/redis/redis.conf"] : []),
      ...(inside
        ? [
            "--port",
            "0",
            "--tls-port",
            "6379",
            "--tls-cert-file",
            inside.certFile,
            "--tls-key-file",
            inside.keyFile,
            "--tls-ca-cert-file",
            inside.caFile,
            "--tls-auth-clients",
            authClients,
          ]
        : ["--port", "6379"]),
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "no",
      ...(options.password !== undefined ? ["--requirepass", options.password] : []),
      ...(options.args ?? []),
    ])
    .withWaitStrategy(Wait.forSuccessfulCommand(pingCommand))
    .withStartupTimeout(options.readyTimeoutMs ?? 60_000);
  if (options.config !== undefined) {
    builder = builder.withCopyContentToContainer([
      { content: options.config, target: "/usr/local/etc/redis/redis.conf", mode: 0o666 },
    ]);
  }
  if (hostTls && inside) {
    const files = [
      { source: hostTls.caFile, target: inside.caFile },
      { source: hostTls.certFile, target: inside.certFile },
      { source: hostTls.keyFile, target: inside.keyFile },
    ];
    if (hostTls.clientCertFile && inside.clientCertFile)
      files.push({ source: hostTls.clientCertFile, target: inside.clientCertFile });
    if (hostTls.clientKeyFile && inside.clientKeyFile)
      files.push({ source: hostTls.clientKeyFile, target: inside.clientKeyFile });
    // The image drops to the redis user: keys must be readable by it (test keys only).
    builder = builder.withCopyFilesToContainer(files.map((f) => ({ ...f, mode: 0o644 })));
  }
  const container = await builder.start();
  const host = container.getHost();
  return {
    source: "containers",
    url: `${hostTls ? "rediss" : "redis"}://${host}:${port}`,
    host,
    port,
    tls: hostTls,
    dir: undefined,
    logFile: undefined,
    // The wait strategy's own check: redis-cli inside the container (TLS included).
    ...(await lifecycle(container, async () => {
      const res = await container.exec(["sh", "-c", pingCommand]);
      return res.exitCode === 0;
    })),
    async cli(...args) {
      const res = await container.exec([...cliArgs, ...args]);
      if (res.exitCode !== 0) throw new Error(`redis-cli failed (${res.exitCode}): ${res.output}`);
      return res.stdout.endsWith("\n") ? res.stdout.slice(0, -1) : res.stdout;
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** A NATS server for a test suite, from the source chooseServerSource picks. */
export async function natsServer(options: NatsOptions = {}): Promise<NatsServer> {
  const custom = options.config !== undefined || (options.args?.length ?? 0) > 0;
  const choice = await chooseServerSource("nats", { custom });
  switch (choice.source) {
    case "env":
      return natsFromEnv(choice.url);
    case "binaries":
      return startNats({ ...options, binary: options.binary ?? choice.binaries["nats-server"] });
    case "containers":
      return natsContainer(options);
  }
}

/** A Redis server for a test suite, from the source chooseServerSource picks. */
export async function redisServer(options: RedisOptions = {}): Promise<RedisServer> {
  const custom =
    (options.args?.length ?? 0) > 0 ||
    Boolean(options.tls) ||
    options.password !== undefined ||
    options.config !== undefined;
  const choice = await chooseServerSource("redis", { custom });
  switch (choice.source) {
    case "env":
      return redisFromEnv(choice.url);
    case "binaries":
      return startRedis({
        ...options,
        binary: options.binary ?? choice.binaries["redis-server"],
        cliBinary: options.cliBinary ?? choice.binaries["redis-cli"],
      });
    case "containers":
      return redisContainer(options);
  }
}
