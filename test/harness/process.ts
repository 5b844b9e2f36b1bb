import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, rmSync, statSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Where a test server comes from; also the values of the TEST_SERVERS setting. */
export type ServerSource = "env" | "binaries" | "containers";

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnServerOptions {
  /** Short name used in error messages, e.g. "nats-server". */
  name: string;
  command: string;
  args: string[];
  /** stdout and stderr are appended here, so a restart keeps the earlier runs' output. */
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Polled until it returns true. The process only counts as started once this holds; an early
   * exit or the timeout fails the start and kills the process.
   */
  ready: (proc: ServerProcess) => Promise<boolean>;
  readyTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before it sends SIGKILL. */
  stopTimeoutMs?: number;
}

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles when the process has exited, whoever ended it. */
  readonly exited: Promise<ExitInfo>;
  readonly running: boolean;
  /** Output of this run only (the log file also holds earlier runs). */
  log(): Promise<string>;
  /** SIGTERM, then SIGKILL after the timeout. Resolves once the process is gone. */
  stop(timeoutMs?: number): Promise<ExitInfo>;
}

/** A start that failed; `log` holds the server's own output, which usually says why. */
export class ServerStartError extends Error {
  readonly log: string;
  readonly exit: ExitInfo | undefined;
  constructor(message: string, log: string, exit?: ExitInfo) {
    super(`${message}\n--- server output (last lines) ---\n${tail(log, 40)}`);
    this.name = "ServerStartError";
    this.log = log;
    this.exit = exit;
  }
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split("\n");
  return all.slice(-lines).join("\n") || "(no output)";
}

// ---------------------------------------------------------------------------------------------
// Leak protection. Every live child and temp dir is recorded so that the test process can clean
// up synchronously however it ends: a suite that forgets stop(), a failed beforeAll, or vitest
// tearing down a worker. The 'exit' event only allows synchronous work, hence kill() + rmSync.

const liveChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const exitCleanups = new Set<() => void>();

/**
 * Runs `cleanup` (synchronously) if the test process exits while it is registered, e.g. to
 * remove a container. Returns the function that unregisters it.
 */
export function onTestProcessExit(cleanup: () => void): () => void {
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

/** Kills (SIGKILL) every server this process started and has not stopped yet. */
export function killAllServers(): void {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone: nothing to do.
    }
  }
  liveChildren.clear();
}

/** How many spawned servers are still running; lets tests check that nothing is left behind. */
export function liveServerCount(): number {
  return liveChildren.size;
}

function onExit(): void {
  killAllServers();
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      // Best effort: one failing cleanup must not keep the others from running.
    }
  }
  exitCleanups.clear();
  // Logs are worth keeping when debugging a failure: TEST_KEEP_SERVER_DIRS=1 leaves them in /tmp.
  if (process.env.TEST_KEEP_SERVER_DIRS) return;
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort: a leftover temp dir is harmless.
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  // Listening for a signal cancels Node's default "terminate" action. When nobody else listens,
  // re-raise it (our once-listener is already removed) so the process still dies as expected.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

// Guarded by a global symbol so that a module loaded twice (vitest may re-evaluate modules per
// test file in one worker) registers the hooks only once per process.
const HOOKED = Symbol.for("redis-binding-worker.test-harness.exit-hook");
const globals = globalThis as { [HOOKED]?: boolean };
if (!globals[HOOKED]) {
  globals[HOOKED] = true;
  process.on("exit", onExit);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, onSignal);
}

// ---------------------------------------------------------------------------------------------

/** A fresh directory under the OS temp dir, removed when the test process exits. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `rbw-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  tempDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Completes the message "timed out after Nms waiting for <what>". */
  what: string;
}

/** Polls `check` until it returns true; a throwing check counts as false and is reported. */
export async function waitUntil(
  check: () => Promise<boolean>,
  options: WaitOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${options.timeoutMs}ms waiting for ${options.what}${cause}`);
    }
    await sleep(options.intervalMs ?? 50);
  }
}

/** True when a TCP connection to host:port is accepted within `timeoutMs`. */
export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

async function readFrom(file: string, offset: number): Promise<string> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    if (size <= offset) return "";
    const buffer = Buffer.alloc(size - offset);
    await handle.read(buffer, 0, buffer.length, offset);
    return buffer.toString("utf8");
  } finally {
    await handle.close();
  }
}

/**
 * Spawns a server with its output appended to `logFile` and resolves once `ready` holds.
 *
 * Output goes straight to the file descriptor rather than through pipes: a server never blocks on
 * a full pipe while the test process is busy, and the log survives the test process for debugging.
 */
export async function spawnServer(options: SpawnServerOptions): Promise<ServerProcess> {
  const logFd = openSync(options.logFile, "a");
  const logOffset = statSync(options.logFile).size;
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", logFd, logFd],
    });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(logFd);
  }

  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once("exit", (code, signal) => {
      liveChildren.delete(child);
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  // ENOENT/EACCES surface as an 'error' event and no 'exit'; turn them into a failed start.
  const spawnFailed = new Promise<Error>((resolve) => child.once("error", resolve));

  if (child.pid === undefined) {
    const err = await spawnFailed;
    throw new ServerStartError(
      `${options.name}: could not run ${options.command}: ${err.message}`,
      "",
    );
  }
  liveChildren.add(child);
  // A suite that forgets stop() must not keep the worker alive; the exit hook kills the child.
  child.unref();

  const pid = child.pid;
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000;
  const proc: ServerProcess = {
    name: options.name,
    pid,
    logFile: options.logFile,
    exited,
    get running() {
      return exitInfo === undefined;
    },
    log: () => readFrom(options.logFile, logOffset),
    async stop(timeoutMs = stopTimeoutMs) {
      if (exitInfo) return exitInfo;
      // Keep the event loop alive while waiting for 'exit', or a script with nothing else to do
      // could end before the child is reaped.
      child.ref();
      try {
        child.kill("SIGTERM");
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), timeoutMs);
        });
        const first = await Promise.race([exited, timedOut]);
        clearTimeout(timer);
        if (first === "timeout") child.kill("SIGKILL");
        return await exited;
      } finally {
        child.unref();
      }
    },
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const deadline = Date.now() + readyTimeoutMs;
  let lastError: unknown;
  for (;;) {
    if (exitInfo) {
      throw new ServerStartError(
        `${options.name} exited during startup (code ${exitInfo.code}, signal ${exitInfo.signal})`,
        await proc.log(),
        exitInfo,
      );
    }
    try {
      if (await options.ready(proc)) return proc;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      await proc.stop(1000);
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new ServerStartError(
        `${options.name} not ready after ${readyTimeoutMs}ms${cause}`,
        await proc.log(),
      );
    }
    await sleep(50);
  }
}
