import { Redis } from "ioredis";
import type { RedisBindingSettings } from "../config/settings.js";
import { baseRedisOptions } from "./connection-options.js";
import { defineScripts, type ScriptedClient } from "./scripts.js";

/**
 * The connections of one binding. Node mode opens `connections` clients and
 * hands them out in turn; with auto-pipelining one is usually enough, more
 * help only when a single socket becomes the bottleneck.
 */
export class RedisConnections {
  private next = 0;

  private constructor(readonly clients: readonly ScriptedClient[]) {}

  static forBinding(settings: RedisBindingSettings, connections = 1): RedisConnections {
    const first = settings.addresses[0];
    if (first === undefined) throw new Error(`binding ${settings.name} has no Redis address`);
    const options = baseRedisOptions(settings);
    const clients = Array.from({ length: Math.max(1, connections) }, () =>
      defineScripts(new Redis({ ...options, host: first.host, port: first.port })),
    );
    return new RedisConnections(clients);
  }

  /** The client for the next command. */
  pick(): ScriptedClient {
    const clients = this.clients;
    const client = clients[this.next] ?? (clients[0] as ScriptedClient);
    this.next = (this.next + 1) % clients.length;
    return client;
  }

  /** True while every connection is ready to take commands. */
  get ready(): boolean {
    return this.clients.every((client) => client.status === "ready");
  }

  /** Starts connecting; connection failures are retried by ioredis itself. */
  connect(): void {
    for (const client of this.clients) {
      if (client.status === "wait") client.connect().catch(() => {});
    }
  }

  async ping(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.ping()));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.clients.map(async (client) => {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }),
    );
  }
}
