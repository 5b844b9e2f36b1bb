import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const HERE = fileURLToPath(new URL(".", import.meta.url));

export type TargetName = "limit" | "peer" | "worker" | "worker-traced" | "worker-durable";

export interface Target {
  readonly name: TargetName;
  readonly pids: readonly number[];
  /** How requests reach it: NATS request-reply, or through JetStream (bench/durable.ts). */
  readonly intake: "direct" | "durable";
  stop(): Promise<void>;
}

export interface TargetEnv {
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly redisHostPort: string;
  /** OTLP/HTTP endpoint for the traced worker. */
  readonly otlpEndpoint: string;
  readonly workers: number;
}

/** Resolves once `marker` is printed; rejects at once if `refusal` is (the target will never be ready). */
function waitForLine(
  child: ChildProcess,
  marker: string,
  what: string,
  refusal?: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(
      () => reject(new Error(`${what} not ready in 20s:\n${output}`)),
      20_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (refusal !== undefined && output.includes(refusal)) {
        clearTimeout(timer);
        reject(new Error(`${what} cannot serve:\n${output}`));
      } else if (output.includes(marker)) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        // Keep draining so a chatty target never blocks on a full pipe.
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) => reject(new Error(`${what} exited with ${code}:\n${output}`)));
  });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          const timer = setTimeout(() => child.kill("SIGKILL"), 35_000);
          child.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill("SIGTERM");
        }),
    ),
  );
}

async function componentsDir(redisHostPort: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "rbw-bench-"));
  await writeFile(
    join(dir, "cache.yaml"),
    `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: cache
spec:
  type: bindings.redis
  version: v1
  metadata:
    - name: redisHost
      value: "${redisHostPort}"
`,
  );
  return dir;
}

/** Starts one kind of target (N processes for the worker) and waits until it serves. */
export async function startTarget(name: TargetName, env: TargetEnv): Promise<Target> {
  const children: ChildProcess[] = [];
  const launch = async (
    args: string[],
    extraEnv: Record<string, string>,
    marker: string,
    refusal?: string,
  ) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    await waitForLine(child, marker, name, refusal);
  };
  try {
    if (name === "limit") {
      await launch([join(HERE, "targets", "bare-responder.js"), env.natsUrl], {}, "ready");
    } else if (name === "peer") {
      await launch(
        [join(HERE, "targets", "peer-responder.js"), env.natsUrl, env.redisUrl],
        {},
        "ready",
      );
    } else {
      const dir = await componentsDir(env.redisHostPort);
      const tracing: Record<string, string> =
        name === "worker-traced"
          ? {
              OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
              OTEL_TRACES_SAMPLER_ARG: "0.1",
              OTEL_TRACES_EXPORTER: "otlp",
              OTEL_EXPORTER_OTLP_ENDPOINT: env.otlpEndpoint,
              OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
            }
          : {};
      // The durable intake starts pulling after the direct subscription
      // serves; without JetStream it says so and never will.
      const [marker, refusal] =
        name === "worker-durable"
          ? ['"durable intake pulling"', '"durable intake off']
          : ['"binding serving"', undefined];
      for (let i = 0; i < env.workers; i++) {
        await launch(
          // The flags of the image's ENTRYPOINT: users run exactly this.
          ["--max-semi-space-size=16", join(ROOT, "dist", "cli", "main.js"), "run"],
          {
            NATS_URL: env.natsUrl,
            COMPONENTS_PATH: dir,
            HTTP_PORT: "0",
            LOG_LEVEL: "info",
            ...tracing,
          },
          marker,
          refusal,
        );
      }
    }
  } catch (error) {
    await stopAll(children);
    throw error;
  }
  return {
    name,
    pids: children.map((child) => child.pid ?? -1),
    intake: name === "worker-durable" ? "durable" : "direct",
    stop: () => stopAll(children),
  };
}
