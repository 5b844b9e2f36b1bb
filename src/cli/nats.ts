import { connect, type NatsConnection } from "@nats-io/transport-node";
import { loadRuntimeSettings } from "../config/runtime.js";
import type { RuntimeSettings } from "../config/settings.js";
import { ConfigError } from "../errors.js";
import { natsConnectionOptions } from "../transport/connection.js";
import { CliError, EXIT } from "./errors.js";

/** The worker's own environment settings: a CLI user points both at the same NATS the same way. */
export function cliRuntimeSettings(): RuntimeSettings {
  try {
    return loadRuntimeSettings();
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
}

/**
 * One connection attempt, no reconnects: a command line tool should fail fast
 * and say where it tried, not retry forever as the worker does.
 */
export async function connectCli(runtime: RuntimeSettings): Promise<NatsConnection> {
  let options: ReturnType<typeof natsConnectionOptions>;
  try {
    options = natsConnectionOptions(runtime, "redis-binding-worker-cli");
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
  try {
    return await connect({
      ...options,
      waitOnFirstConnect: false,
      maxReconnectAttempts: 0,
      timeout: 5_000,
    });
  } catch (error) {
    throw new CliError(
      `cannot connect to NATS at ${runtime.natsServers.join(",")}: ${(error as Error).message}`,
      EXIT.unreachable,
    );
  }
}
