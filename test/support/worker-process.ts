import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Parsed JSON log lines, in order. */
  readonly logs: Record<string, unknown>[];
  /** Everything written to stdout and stderr, raw. */
  output(): string;
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  exited(): Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

/** Runs `redis-binding-worker <args>` from the build, as a user would. */
export function spawnWorker(env: Record<string, string>, args: string[] = ["run"]): WorkerProcess {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? "", HTTP_PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  let raw = "";
  let pending = "";
  const listeners = new Set<() => void>();
  child.stdout?.on("data", (chunk: Buffer) => {
    raw += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line));
      } catch {
        // not a log line; kept in raw output
      }
    }
    for (const listener of listeners) listener();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    raw += chunk.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  process.once("exit", () => child.kill("SIGKILL"));
  return {
    child,
    logs,
    output: () => raw,
    waitForLog(predicate, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(predicate);
          if (found) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`log line not seen within ${timeoutMs}ms; output so far:\n${raw}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    exited: () => exit,
    kill: (signal) => child.kill(signal),
  };
}
