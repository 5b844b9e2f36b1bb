import { loadComponents } from "../config/components.js";
import { loadRuntimeSettings } from "../config/runtime.js";
import { ConfigError } from "../errors.js";
import { createLogger, type Logger } from "../telemetry/logger.js";
import { startTelemetry } from "../telemetry/sdk.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { Worker } from "../worker.js";

const HELP = `Usage: redis-binding-worker run

Serves every bindings.redis component in COMPONENTS_PATH on <BINDINGS_SUBJECT_PREFIX>.<name>.
Stops gracefully on SIGTERM or SIGINT: stops taking requests, answers those in flight
(up to SHUTDOWN_GRACE), closes Redis and NATS, exits 0. Settings: see README.md
("Configuration").`;

export async function runWorker(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  // Listen before starting: a start can wait on NATS for a long time, and a
  // stop asked for meanwhile must not be lost (as PID 1 in a container, a
  // signal without a handler is simply ignored).
  const stopRequested = nextStopSignal();
  let log: Logger = createLogger(process.env.LOG_LEVEL ?? "info");
  let starting: Promise<Worker>;
  let telemetry: Telemetry | undefined;
  try {
    const runtime = loadRuntimeSettings();
    log = createLogger(runtime.logLevel);
    const loaded = await loadComponents(runtime.componentsPath);
    for (const ignored of loaded.ignored) {
      log.info(
        { file: ignored.file, component: ignored.name, type: ignored.type },
        "component ignored: not bindings.redis",
      );
    }
    for (const warning of loaded.warnings) log.warn(warning);
    // Before the worker exists: its first request must find the SDK running.
    telemetry = await startTelemetry({ log });
    starting = Worker.start({ runtime, bindings: loaded.bindings, log, telemetry });
  } catch (error) {
    await telemetry?.shutdown();
    return reportStartFailure(error, log);
  }

  const first = await Promise.race([
    starting.then(
      (worker) => ({ worker }),
      (error: unknown) => ({ error }),
    ),
    stopRequested.then((signal) => ({ signal })),
  ]);
  if ("error" in first) {
    await telemetry.shutdown();
    return reportStartFailure(first.error, log);
  }
  if ("signal" in first) {
    // Nothing was served yet, so there is nothing to drain; a start that is
    // still waiting for NATS would keep the process alive, hence the exit.
    log.info({ signal: first.signal }, "signal received during start-up; exiting");
    process.exit(0);
  }
  const signal = await stopRequested;
  log.info({ signal }, "signal received");
  await first.worker.stop();
  return 0;
}

function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
}

function reportStartFailure(error: unknown, log: Logger): number {
  if (error instanceof ConfigError) {
    log.fatal({ file: error.file, component: error.component, field: error.field }, error.message);
    return 1;
  }
  // NATS refusing our credentials is for the operator to fix, like a bad
  // component: one fatal line, not a stack trace on stderr.
  if (error instanceof Error && NATS_REFUSALS.has(error.name)) {
    log.fatal({ cause: error.name }, `NATS refused the connection: ${error.message}`);
    return 1;
  }
  throw error;
}

const NATS_REFUSALS: ReadonlySet<string> = new Set([
  "AuthorizationError",
  "UserAuthenticationExpiredError",
]);
