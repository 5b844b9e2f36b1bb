import { loadComponents } from "../config/components.js";
import { loadRuntimeSettings } from "../config/runtime.js";
import { ConfigError } from "../errors.js";
import { createLogger, type Logger } from "../telemetry/logger.js";
import { Worker } from "../worker.js";

const HELP = `Usage: redis-binding-worker run

Serves every bindings.redis component in COMPONENTS_PATH on <BINDINGS_SUBJECT_PREFIX>.<name>.
Stops gracefully on SIGTERM or SIGINT. Settings: see README.md ("Configuration").`;

export async function runWorker(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  let log: Logger = createLogger(process.env.LOG_LEVEL ?? "info");
  let worker: Worker;
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
    worker = await Worker.start({ runtime, bindings: loaded.bindings, log });
  } catch (error) {
    if (error instanceof ConfigError) {
      log.fatal(
        { file: error.file, component: error.component, field: error.field },
        error.message,
      );
      return 1;
    }
    throw error;
  }

  const stop = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info({ signal: stop }, "signal received");
  await worker.stop();
  return 0;
}
