import { Redis, type RedisOptions } from "ioredis";
import { defineScripts, type ScriptedClient } from "./scripts.js";
import { type ConnectionEvents, closeClient, type Topology } from "./topology.js";

/** How soon a client that ioredis gave up on connects again. */
const RESTART_DELAY_MS = 100;

/**
 * A node or a Sentinel-managed master: `size` connections with the same
 * options, handed out in turn. With auto-pipelining one connection carries
 * any number of concurrent commands; more help only when a single socket (or
 * the single Redis I/O thread per connection) becomes the bottleneck.
 */
export class NodePool implements Topology {
  private next = 0;
  /** Set by close(): the connections going away then is no news. */
  private closing = false;
  private readonly clients: readonly ScriptedClient[];
  private readonly redis: readonly Redis[];

  constructor(
    readonly kind: "node" | "sentinel",
    options: RedisOptions,
    size: number,
  ) {
    this.redis = Array.from({ length: Math.max(1, size) }, () => new Redis({ ...options }));
    this.clients = this.redis.map((client) => defineScripts(client, true));
    for (const client of this.redis) client.on("end", () => this.restart(client));
  }

  /**
   * ioredis gives a client up for good ("end") not only when we close it but
   * also when a connection attempt is cut short. In Sentinel mode a failover
   * does that: the master crashes, the client starts reconnecting, and its
   * failover detector, hearing +switch-master from a Sentinel meanwhile,
   * disconnects the attempt under way ("Connection is closed."). The binding
   * then answered 503 until the worker was restarted. Anything but our own
   * close() starts the client again.
   */
  private restart(client: Redis): void {
    if (this.closing) return;
    setTimeout(() => {
      if (!this.closing && client.status === "end") client.connect().catch(() => {});
    }, RESTART_DELAY_MS);
  }

  pick(): ScriptedClient {
    const clients = this.clients;
    const client = clients[this.next] ?? (clients[0] as ScriptedClient);
    this.next = (this.next + 1) % clients.length;
    return client;
  }

  get ready(): boolean {
    return this.redis.every((client) => client.status === "ready");
  }

  connections(): readonly Redis[] {
    return this.redis;
  }

  onConnection(listener: (connection: Redis) => void): void {
    // The pool is fixed: every connection exists from the start.
    for (const client of this.redis) listener(client);
  }

  setCredentials(username: string | undefined, password: string | undefined): void {
    // ioredis reads these at every (re)connect.
    for (const client of this.redis) {
      client.options.username = username;
      client.options.password = password;
    }
  }

  connect(): void {
    for (const client of this.redis) {
      if (client.status === "wait") client.connect().catch(() => {});
    }
  }

  async ping(): Promise<void> {
    await Promise.all(this.redis.map((client) => client.ping()));
  }

  watch(events: ConnectionEvents): void {
    for (const client of this.redis) {
      let wasReady = false;
      client.on("ready", () => {
        wasReady = true;
        events.ready();
      });
      client.on("error", (error: Error) => {
        if (!this.closing) events.error(error);
      });
      // Sentinel trouble (one unreachable, a bad reply) arrives apart from errors.
      client.on("sentinelError", (error: Error) => {
        if (!this.closing) events.error(error);
      });
      client.on("close", () => {
        if (!wasReady || this.closing) return;
        wasReady = false;
        events.lost();
      });
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.redis.map(async (client) => {
        await closeClient(client);
        // QUIT ends the master's socket only. In Sentinel mode ioredis also
        // keeps a subscription on every Sentinel to hear of failovers, and
        // only disconnect() ends those: without it the process outlives its
        // "stopped" line, held open by them, until it is killed.
        if (this.kind === "sentinel") client.disconnect();
      }),
    );
  }
}
