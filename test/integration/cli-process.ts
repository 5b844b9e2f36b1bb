import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  /** stdout as UTF-8. */
  readonly out: string;
  readonly elapsedMs: number;
}

/**
 * Runs the built `redis-binding-worker` as a shell user would: its own
 * process, only the environment given, optional bytes on stdin.
 */
export function cli(
  args: readonly string[],
  options: { env?: Record<string, string>; stdin?: Uint8Array | string } = {},
): Promise<CliResult> {
  const started = Date.now();
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? "", ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(options.stdin ?? "");
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      const out = Buffer.concat(stdout);
      resolve({
        code,
        stdout: out,
        out: out.toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        elapsedMs: Date.now() - started,
      });
    });
  });
}
