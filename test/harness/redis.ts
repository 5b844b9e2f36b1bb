import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { getFreePort } from "./ports.js";
import {
  canConnect,
  makeTempDir,
  removeTempDir,
  type ServerProcess,
  type ServerSource,
  ServerStartError,
  spawnServer,
} from "./process.js";

const execFileAsync = promisify(execFile);

export interface RedisTlsFiles {
  /** CA that signed the server (and client) certificates; give it to clients as `ca`. */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A client certificate signed by the same CA, for `authClients: "yes"`. */
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface RedisTlsOptions extends Partial<RedisTlsFiles> {
  /** redis `tls-auth-clients`: "no" (default) accepts clients without a certificate. */
  authClients?: "yes" | "no" | "optional";
}

export interface RedisOptions {
  /** Extra redis-server arguments, appended after the harness's own (later ones win). */
  args?: string[];
  /**
   * Serve TLS only (`--port 0 --tls-port N`). `true` or an object without files generates a
   * throw-away CA and certificates for 127.0.0.1 with openssl.
   */
  tls?: true | RedisTlsOptions;
  /** `requirepass`; cli() and the readiness probe authenticate with it. */
  password?: string;
  /** Config file text passed as the first argument (needed e.g. for `--sentinel`, which rewrites it). */
  config?: string;
  /** redis-server binary; defaults to `redis-server` on PATH. */
  binary?: string;
  /** redis-cli binary; defaults to `redis-cli` on PATH. */
  cliBinary?: string;
  readyTimeoutMs?: number;
}

export interface RedisServer {
  readonly source: ServerSource;
  /** redis://127.0.0.1:PORT, or rediss:// with TLS. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Certificates in use when TLS is on. */
  readonly tls: RedisTlsFiles | undefined;
  readonly dir: string | undefined;
  readonly logFile: string | undefined;
  /** Stop the server; connections drop and new ones are refused. A no-op when already stopped. */
  stop(): Promise<void>;
  /** Start it again after stop(), on the same port with the same arguments (data is not kept). */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** Stop for good and delete the temp dir (or container). */
  close(): Promise<void>;
  /**
   * Runs redis-cli against the server and returns its stdout without the final newline. Note
   * that redis-cli exits 0 on an error reply and prints e.g. "ERR unknown command ...".
   */
  cli(...args: string[]): Promise<string>;
}

const HOST = "127.0.0.1";

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args, { cwd, timeout: 30_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0]} failed: ${(err as Error).message}\n${stderr}`);
  }
}

/**
 * Writes a throw-away CA plus a server and a client certificate (SAN IP:127.0.0.1, localhost)
 * into `dir`. EC keys keep generation fast; they live two days since tests never outlive that.
 */
export async function createTestCertificates(dir: string): Promise<Required<RedisTlsFiles>> {
  await mkdir(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=redis-binding-worker test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const sign = async (name: string, ext: string) => {
    await writeFile(join(dir, `${name}.ext`), ext);
    await openssl(dir, [
      "req",
      "-new",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    ]);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
  };
  await sign(
    "server",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  await sign("client", "extendedKeyUsage=clientAuth\n");
  return {
    caFile: join(dir, "ca.crt"),
    certFile: join(dir, "server.crt"),
    keyFile: join(dir, "server.key"),
    clientCertFile: join(dir, "client.crt"),
    clientKeyFile: join(dir, "client.key"),
  };
}

/** Resolves the TLS option into concrete files, generating them when none were given. */
export async function resolveTls(
  tls: RedisOptions["tls"],
  dir: string,
): Promise<RedisTlsFiles | undefined> {
  if (!tls) return undefined;
  if (tls !== true && tls.caFile && tls.certFile && tls.keyFile) {
    return {
      caFile: tls.caFile,
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      clientCertFile: tls.clientCertFile,
      clientKeyFile: tls.clientKeyFile,
    };
  }
  return createTestCertificates(join(dir, "tls"));
}

/** redis-cli flags that reach a server with these TLS files and password. */
export function cliConnectionArgs(tls: RedisTlsFiles | undefined, password?: string): string[] {
  const args: string[] = [];
  if (tls) {
    args.push("--tls", "--cacert", tls.caFile);
    if (tls.clientCertFile && tls.clientKeyFile) {
      args.push("--cert", tls.clientCertFile, "--key", tls.clientKeyFile);
    }
  }
  // --no-auth-warning: redis-cli otherwise prints a warning about -a on every call.
  if (password !== undefined) args.push("-a", password, "--no-auth-warning");
  return args;
}

/** A server that answers PING is up; NOAUTH also proves that, e.g. with requirepass in args. */
export function isPingReply(reply: string): boolean {
  return reply === "PONG" || reply.startsWith("NOAUTH");
}

function isBindConflict(err: unknown): boolean {
  return err instanceof ServerStartError && /address already in use/i.test(err.log);
}

/** Starts a redis-server process on a free port of 127.0.0.1, in its own temp dir. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = await makeTempDir("redis");
  const logFile = join(dir, "redis-server.log");
  const cliBinary = options.cliBinary ?? "redis-cli";
  let configFile: string | undefined;
  let tls: RedisTlsFiles | undefined;
  try {
    if (options.config !== undefined) {
      configFile = join(dir, "redis.conf");
      await writeFile(configFile, options.config);
    }
    tls = await resolveTls(options.tls, dir);
  } catch (err) {
    await removeTempDir(dir).catch(() => undefined);
    throw err;
  }
  const authClients = options.tls !== true ? (options.tls?.authClients ?? "no") : "no";
  // A cluster node also binds port + 10000 (its bus) unless cluster-port says otherwise.
  const clusterBus = (options.args ?? []).includes("--cluster-enabled");

  let port = 0;
  let proc: ServerProcess | undefined;

  const cli = async (...args: string[]): Promise<string> => {
    const { stdout } = await execFileAsync(
      cliBinary,
      ["-h", HOST, "-p", String(port), ...cliConnectionArgs(tls, options.password), ...args],
      { timeout: 10_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return stdout.endsWith("\n") ? stdout.slice(0, -1) : stdout;
  };

  const args = (): string[] => [
    ...(configFile ? [configFile] : []),
    "--bind",
    HOST,
    ...(tls
      ? [
          "--port",
          "0",
          "--tls-port",
          String(port),
          "--tls-cert-file",
          tls.certFile,
          "--tls-key-file",
          tls.keyFile,
          "--tls-ca-cert-file",
          tls.caFile,
          "--tls-auth-clients",
          authClients,
        ]
      : ["--port", String(port)]),
    // No persistence: every start is a clean server, and nothing is written behind the test.
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--daemonize",
    "no",
    // "" sends the log to stdout, which spawnServer appends to the log file.
    "--logfile",
    "",
    ...(options.password !== undefined ? ["--requirepass", options.password] : []),
    ...(options.args ?? []),
  ];

  const launch = async (): Promise<void> => {
    proc = await spawnServer({
      name: "redis-server",
      command: options.binary ?? "redis-server",
      args: args(),
      logFile,
      cwd: dir,
      readyTimeoutMs: options.readyTimeoutMs,
      ready: async () => (await canConnect(HOST, port)) && isPingReply(await cli("PING")),
    });
  };

  for (let attempt = 1; ; attempt++) {
    port = await getFreePort(clusterBus ? { alsoFree: [10000] } : {});
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt < 3 && isBindConflict(err)) continue;
      await removeTempDir(dir).catch(() => undefined);
      throw err;
    }
  }

  const stop = async (): Promise<void> => {
    const current = proc;
    proc = undefined;
    if (current) await current.stop();
  };
  const start = async (): Promise<void> => {
    if (proc?.running) return;
    await launch();
  };

  return {
    source: "binaries",
    url: `${tls ? "rediss" : "redis"}://${HOST}:${port}`,
    host: HOST,
    port,
    tls,
    dir,
    logFile,
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    async close() {
      await stop();
      await removeTempDir(dir);
    },
    cli,
  };
}
