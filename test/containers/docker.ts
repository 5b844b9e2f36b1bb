/**
 * A thin layer over the docker and compose command lines, which is what a
 * user runs; no Docker SDK in between whose behaviour we would be testing
 * instead.
 */
import { execFile, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The tag docker-compose.yml builds and uses; the global setup builds it once per run. */
export const IMAGE = "redis-binding-worker:local";

const run = promisify(execFile);

/**
 * The classic builder: this engine's newer docker CLI has no buildx, and the
 * Dockerfile needs nothing BuildKit adds.
 */
const DOCKER_ENV = { ...process.env, DOCKER_BUILDKIT: "0", COMPOSE_DOCKER_CLI_BUILD: "0" };

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

export async function docker(
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CommandResult> {
  return exec("docker", args, options);
}

/**
 * `docker-compose` (v1, what these machines have) when installed, else the
 * `docker compose` plugin; both take the same arguments used here.
 */
export async function compose(
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CommandResult> {
  const [command, prefix] = composeCommand();
  return exec(command, [...prefix, ...args], options);
}

let composeChoice: [string, string[]] | undefined;
function composeCommand(): [string, string[]] {
  composeChoice ??=
    spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status === 0
      ? ["docker-compose", []]
      : ["docker", ["compose"]];
  return composeChoice;
}

async function exec(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string> },
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await run(command, [...args], {
      cwd: REPO_ROOT,
      env: { ...DOCKER_ENV, ...options.env },
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, stderr };
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `${command} ${args.join(" ")} failed: ${failed.message}\n${failed.stderr ?? ""}${failed.stdout ?? ""}`,
    );
  }
}

/** Best effort, synchronous: for exit hooks and teardown that must not throw. */
export function dockerQuietly(args: readonly string[]): void {
  spawnSync("docker", [...args], { stdio: "ignore", timeout: 30_000, env: DOCKER_ENV });
}

/** Best effort, synchronous: `compose ...` for exit hooks. */
export function composeQuietly(args: readonly string[]): void {
  const [command, prefix] = composeCommand();
  spawnSync(command, [...prefix, ...args], {
    cwd: REPO_ROOT,
    stdio: "ignore",
    timeout: 60_000,
    env: DOCKER_ENV,
  });
}

export async function inspect<T>(target: string, format: string): Promise<T> {
  const { stdout } = await docker(["inspect", "--format", `{{json ${format}}}`, target]);
  return JSON.parse(stdout) as T;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
