import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { getFreePort } from "../../harness/ports.js";
import { redisComponent } from "../../support/worker.js";
import { spawnWorker, type WorkerProcess } from "../../support/worker-process.js";

/** A worker running as its own process (from dist/), as users run it. */
export interface WorkerHandle {
  readonly proc: WorkerProcess;
  readonly pid: number;
  readonly httpPort: number;
  readonly dir: string;
  /** Resident set size in KiB, from /proc. */
  rssKb(): number;
  /** GET /readyz: the status code and parsed body. */
  readyz(): Promise<{ status: number; body: unknown }>;
  /** Sends the signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Kills the process if still alive and removes its components dir. */
  dispose(): Promise<void>;
}

export interface LaunchOptions {
  readonly natsUrl: string;
  /** host:port the binding's Redis is reached at (directly or through a proxy). */
  readonly redisHost?: string;
  readonly binding?: string;
  /** Extra component metadata (redisMaxRetries, readTimeout, redisPassword...). */
  readonly metadata?: Record<string, string>;
  /** Extra component files, written as they are (e.g. a secret store). */
  readonly extraFiles?: Record<string, string>;
  /** Replaces the generated component entirely. */
  readonly componentText?: string;
  /** Serve this components directory as it is instead (nothing is written). */
  readonly componentsPath?: string;
  readonly env?: Record<string, string>;
  /** Wait for the "binding serving" log line (default true). */
  readonly waitServing?: boolean;
}

export async function launchWorker(options: LaunchOptions): Promise<WorkerHandle> {
  const dir = await mkdtemp(join(tmpdir(), "rbw-fault-worker-"));
  const binding = options.binding ?? "cache";
  if (options.componentsPath === undefined) {
    await writeFile(
      join(dir, `${binding}.yaml`),
      options.componentText ??
        redisComponent(binding, {
          redisHost: options.redisHost ?? "127.0.0.1:6379",
          ...(options.metadata ?? {}),
        }),
    );
    for (const [name, text] of Object.entries(options.extraFiles ?? {})) {
      await writeFile(join(dir, name), text);
    }
  }
  const httpPort = await getFreePort();
  const proc = spawnWorker({
    NATS_URL: options.natsUrl,
    COMPONENTS_PATH: options.componentsPath ?? dir,
    HTTP_PORT: String(httpPort),
    ...(options.env ?? {}),
  });
  if (options.waitServing !== false) {
    await proc.waitForLog((line) => line.msg === "binding serving", 30_000);
  }
  const pid = proc.child.pid ?? -1;
  return {
    proc,
    pid,
    httpPort,
    dir,
    rssKb: () => rssKb(pid),
    readyz: () => getJson(httpPort, "/readyz"),
    async stop(signal = "SIGTERM") {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.kill(signal);
      return proc.exited();
    },
    async dispose() {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.kill("SIGKILL");
        await proc.exited();
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!match?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

export function getJson(port: number, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, timeout: 5000 }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}

/** A caller's connection: reconnects forever and quickly, as a service would. */
export function callerConnection(url: string, name = "fault-caller"): Promise<NatsConnection> {
  return connect({
    servers: url,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds; throws with `what` after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // count as not yet
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Timestamps of a connection's status events, to tell when a client noticed an outage. */
export interface StatusLog {
  readonly events: { type: string; at: number }[];
  /** First event of `type` at or after `since`. */
  first(type: string, since?: number): number | undefined;
}

export function watchStatus(nc: NatsConnection): StatusLog {
  const events: { type: string; at: number }[] = [];
  void (async () => {
    for await (const status of nc.status()) events.push({ type: status.type, at: Date.now() });
  })();
  return {
    events,
    first: (type, since = 0) => events.find((e) => e.type === type && e.at >= since)?.at,
  };
}
