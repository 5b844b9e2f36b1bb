import type { Redis } from "ioredis";
import type { ScriptedClient } from "./scripts.js";

/** What a topology reports about its connections, for the binding's log. */
export interface ConnectionEvents {
  /** A connection (or the cluster) became ready. */
  ready(): void;
  /** A ready connection (or the cluster) was lost; ioredis reconnects. */
  lost(): void;
  error(error: Error): void;
}

/**
 * The connections of one binding in one of the shapes Redis comes in (a node,
 * a Sentinel-managed master, a cluster). The rest of the worker sees only
 * this: a client per command, readiness, and the live connections, which
 * credential rotation must reach one by one.
 */
export interface Topology {
  readonly kind: "node" | "sentinel" | "cluster";
  /** The client for the next command. */
  pick(): ScriptedClient;
  /** True while commands can be served. */
  readonly ready: boolean;
  /** Every connection to a data node that exists now (cluster: one per node). */
  connections(): readonly Redis[];
  /**
   * Calls `listener` for every data-node connection, now and whenever one is
   * created later (cluster nodes come and go with the slot map), before it
   * sends anything.
   */
  onConnection(listener: (connection: Redis) => void): void;
  /** Credentials for every later (re)connection; live ones are re-authenticated separately. */
  setCredentials(username: string | undefined, password: string | undefined): void;
  /** Starts connecting; failures are retried by ioredis itself. */
  connect(): void;
  /** Resolves once every data node answers PING (cluster: every master). */
  ping(): Promise<void>;
  watch(events: ConnectionEvents): void;
  close(): Promise<void>;
}

/** Quit politely (waits for replies in flight), or drop the socket if that fails. */
export async function closeClient(client: { quit(): Promise<unknown>; disconnect(): void }) {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
