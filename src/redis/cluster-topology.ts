import { Cluster, type ClusterOptions, type Redis } from "ioredis";
import type { HostPort } from "../config/settings.js";
import { defineScripts, type ScriptedClient } from "./scripts.js";
import { type ConnectionEvents, closeClient, type Topology } from "./topology.js";

/**
 * A Redis Cluster through one ioredis `Cluster`: it keeps one connection per
 * node, routes each command by its key's slot and follows MOVED/ASK while
 * slots migrate. Every script we run touches a single key, so it runs on the
 * node that owns that key.
 */
export class ClusterTopology implements Topology {
  readonly kind = "cluster";
  private readonly cluster: Cluster;
  private readonly client: ScriptedClient;
  /** Set by close(): the connections going away then is no news. */
  private closing = false;
  private readonly listeners: ((connection: Redis) => void)[] = [];
  /** Set once credentials rotate; nodes created later must get them too. */
  private credentials: { username: string | undefined; password: string | undefined } | undefined;

  constructor(seeds: readonly HostPort[], options: ClusterOptions) {
    this.cluster = new Cluster(
      seeds.map(({ host, port }) => ({ host, port })),
      // Copied: ioredis keeps a reference to what it is given.
      { ...options, redisOptions: { ...options.redisOptions } },
    );
    this.client = defineScripts(this.cluster, false);
    // "+node" is emitted as ioredis creates a node's connection, before that
    // connection sends anything (nodes connect lazily).
    this.cluster.on("+node", (connection: Redis) => {
      // ioredis built this node from a copy of redisOptions taken at start-up.
      if (this.credentials !== undefined) {
        connection.options.username = this.credentials.username;
        connection.options.password = this.credentials.password;
      }
      for (const listener of this.listeners) listener(connection);
    });
  }

  pick(): ScriptedClient {
    return this.client;
  }

  /** ioredis sets "ready" once the slot map is known and CLUSTER INFO says ok. */
  get ready(): boolean {
    return this.cluster.status === "ready";
  }

  connections(): readonly Redis[] {
    return this.cluster.nodes("all");
  }

  onConnection(listener: (connection: Redis) => void): void {
    this.listeners.push(listener);
    for (const connection of this.cluster.nodes("all")) listener(connection);
  }

  setCredentials(username: string | undefined, password: string | undefined): void {
    // Every node's own copy, which its reconnects and ioredis's slot refresher
    // (a duplicate of the node) read; nodes that join later get them on "+node".
    this.credentials = { username, password };
    for (const node of this.cluster.nodes("all")) {
      node.options.username = username;
      node.options.password = password;
    }
  }

  connect(): void {
    if (this.cluster.status === "wait") this.cluster.connect().catch(() => {});
  }

  async ping(): Promise<void> {
    const masters = this.cluster.nodes("master");
    if (this.cluster.status !== "ready" || masters.length === 0) {
      throw new Error(`cluster not ready (${this.cluster.status})`);
    }
    await Promise.all(masters.map((node) => node.ping()));
  }

  watch(events: ConnectionEvents): void {
    let wasReady = false;
    this.cluster.on("ready", () => {
      wasReady = true;
      events.ready();
    });
    this.cluster.on("error", (error: Error & { lastNodeError?: Error }) => {
      // "Failed to refresh slots cache" hides the reason in lastNodeError.
      if (!this.closing) events.error(error.lastNodeError ?? error);
    });
    this.cluster.on("node error", (error: Error) => {
      if (!this.closing) events.error(error);
    });
    const lost = () => {
      if (!wasReady || this.closing) return;
      wasReady = false;
      events.lost();
    };
    this.cluster.on("close", lost);
    this.cluster.on("reconnecting", lost);
  }

  async close(): Promise<void> {
    this.closing = true;
    await closeClient(this.cluster);
  }
}
