#!/usr/bin/env node
import { CliError, EXIT } from "./errors.js";

const USAGE = `redis-binding-worker: Dapr Redis output bindings served over NATS

Usage:
  redis-binding-worker run                       serve every binding in COMPONENTS_PATH
  redis-binding-worker validate [dir]            check component files, print resolved settings
  redis-binding-worker invoke <binding> <op> ... send one request, print the reply
  redis-binding-worker services                  list running workers and what they served
  redis-binding-worker health [--live]           ask the local worker's /readyz (container checks)

Settings come from the environment (NATS_URL, COMPONENTS_PATH, ...); see README.md.
Run a command with --help for its options.`;

type Command = (args: string[]) => Promise<number>;

/**
 * Loaded on demand: `health` runs every few seconds in a container and
 * `invoke` from shells, and neither should pay for loading Redis,
 * logging and telemetry code that only `run` needs.
 */
const commands: Record<string, () => Promise<Command>> = {
  run: async () => (await import("./run.js")).runWorker,
  validate: async () => (await import("./validate.js")).runValidate,
  invoke: async () => (await import("./invoke.js")).runInvoke,
  services: async () => (await import("./services.js")).runServices,
  health: async () => (await import("./health.js")).runHealth,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    (name === undefined ? process.stderr : process.stdout).write(`${USAGE}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    process.stdout.write(`${(await import("../version.js")).VERSION}\n`);
    return EXIT.ok;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (load === undefined) {
    process.stderr.write(`redis-binding-worker: unknown command "${name}"\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof CliError) {
      process.stderr.write(`redis-binding-worker: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(
      `redis-binding-worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = EXIT.failed;
  },
);
