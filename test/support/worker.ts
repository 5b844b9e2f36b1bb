import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { BindingRuntimeOptions } from "../../src/binding-runtime.js";
import { loadComponents } from "../../src/config/components.js";
import { loadRuntimeSettings } from "../../src/config/runtime.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { Worker } from "../../src/worker.js";

/** A bindings.redis component as YAML, for tests. */
export function redisComponent(name: string, metadata: Record<string, string>): string {
  const entries = Object.entries(metadata)
    .map(([field, value]) => `  - name: ${field}\n    value: ${JSON.stringify(value)}`)
    .join("\n");
  return `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: ${name}
spec:
  type: bindings.redis
  version: v1
  metadata:
${entries}
`;
}

export interface TestWorker {
  readonly worker: Worker;
  readonly dir: string;
  /** Every log line the worker wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/**
 * Runs a worker in this process against the given servers, with its
 * components written to a temp dir and its logs captured.
 */
export async function startTestWorker(options: {
  natsUrl: string;
  components: string[];
  env?: Record<string, string>;
  waitUntilServing?: boolean;
  /** Per-binding Redis options, e.g. an Entra ID credential. */
  redis?: BindingRuntimeOptions;
}): Promise<TestWorker> {
  const dir = await mkdtemp(join(tmpdir(), "rbw-components-"));
  await Promise.all(
    options.components.map((text, index) => writeFile(join(dir, `component-${index}.yaml`), text)),
  );
  const runtime = loadRuntimeSettings({
    NATS_URL: options.natsUrl,
    COMPONENTS_PATH: dir,
    HTTP_PORT: "0",
    LOG_LEVEL: "debug",
    ...options.env,
  });
  const loaded = await loadComponents(dir, {});
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const worker = await Worker.start({
    runtime,
    bindings: loaded.bindings,
    log: createLogger(runtime.logLevel, sink),
    ...(options.redis ? { redis: options.redis } : {}),
  });
  if (options.waitUntilServing !== false) await worker.whenServing();
  return {
    worker,
    dir,
    logs,
    async stop() {
      await worker.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
