#!/usr/bin/env node
import { runInvoke } from "./invoke.js";
import { runWorker } from "./run.js";
import { runValidate } from "./validate.js";

const USAGE = `redis-binding-worker: Dapr Redis output bindings served over NATS

Usage:
  redis-binding-worker run                       serve every binding in COMPONENTS_PATH
  redis-binding-worker validate <dir>            check component files, print resolved settings
  redis-binding-worker invoke <binding> <operation> [--key K] [--data JSON] [--ttl N] [--delete]
                                                 send one request and print the reply

Settings come from the environment (NATS_URL, COMPONENTS_PATH, ...); see README.md.
Run a command with --help for its options.`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  run: runWorker,
  validate: runValidate,
  invoke: runInvoke,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`redis-binding-worker: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `redis-binding-worker: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
