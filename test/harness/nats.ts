import { writeFile } from "node:fs/promises";
import { join } from "node:path";
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

export interface NatsOptions {
  /** Enable JetStream (`-js`) with a store dir in the server's temp dir. */
  jetstream?: boolean;
  /** Extra nats-server configuration text (auth, tls, limits...), written to a config file. */
  config?: string;
  /** Also open the HTTP monitoring port; its URL is then `monitorUrl`. */
  monitor?: boolean;
  /** Extra command-line flags, appended last. */
  args?: string[];
  /** nats-server binary to run; defaults to `nats-server` looked up on PATH. */
  binary?: string;
  readyTimeoutMs?: number;
}

export interface NatsServer {
  readonly source: ServerSource;
  /** nats://127.0.0.1:PORT */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** http://127.0.0.1:PORT of the monitoring endpoint when `monitor` was asked for. */
  readonly monitorUrl: string | undefined;
  /** The server's temp dir (log, config, JetStream store) when it runs as a local process. */
  readonly dir: string | undefined;
  readonly logFile: string | undefined;
  /** Stop the server; clients see the connection close. A no-op when already stopped. */
  stop(): Promise<void>;
  /** Start it again after stop(): same port, same config, same JetStream store. */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** Stop for good and delete the temp dir (or container). */
  close(): Promise<void>;
}

const HOST = "127.0.0.1";
/** Printed by nats-server once every listener is up. */
const READY_LINE = "Server is ready";

function isBindConflict(err: unknown): boolean {
  return err instanceof ServerStartError && /address already in use/i.test(err.log);
}

/** Starts a nats-server process on a free port of 127.0.0.1, in its own temp dir. */
export async function startNats(options: NatsOptions = {}): Promise<NatsServer> {
  const dir = await makeTempDir("nats");
  const logFile = join(dir, "nats-server.log");
  const storeDir = join(dir, "jetstream");
  let configFile: string | undefined;
  if (options.config !== undefined) {
    configFile = join(dir, "nats-server.conf");
    await writeFile(configFile, options.config);
  }

  let port = 0;
  let monitorPort: number | undefined;
  let proc: ServerProcess | undefined;

  const args = (): string[] => [
    // The config file comes first: nats-server lets command-line flags override it, which keeps
    // host and port under the harness's control whatever the extra config says.
    ...(configFile ? ["-c", configFile] : []),
    "-a",
    HOST,
    "-p",
    String(port),
    ...(monitorPort !== undefined ? ["-m", String(monitorPort)] : []),
    ...(options.jetstream ? ["-js", "-sd", storeDir] : []),
    ...(options.args ?? []),
  ];

  const launch = async (): Promise<void> => {
    proc = await spawnServer({
      name: "nats-server",
      command: options.binary ?? "nats-server",
      args: args(),
      logFile,
      cwd: dir,
      readyTimeoutMs: options.readyTimeoutMs,
      // The log line alone is not enough on a restart (the file holds older runs), so log() is
      // per run; the TCP check guards against a line printed before the listener accepts.
      ready: async (p) => (await p.log()).includes(READY_LINE) && (await canConnect(HOST, port)),
    });
  };

  // Another process may grab the probed port before nats-server binds it: retry on new ports.
  for (let attempt = 1; ; attempt++) {
    port = await getFreePort();
    monitorPort = options.monitor ? await getFreePort() : undefined;
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
    url: `nats://${HOST}:${port}`,
    host: HOST,
    port,
    monitorUrl: monitorPort !== undefined ? `http://${HOST}:${monitorPort}` : undefined,
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
  };
}
