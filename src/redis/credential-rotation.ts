import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Topology } from "./topology.js";

/**
 * Puts new credentials into effect on every connection of a binding: the
 * options every later (re)connect reads, and an AUTH on every connection
 * that is open now (each pooled connection, each cluster node). Dapr's
 * refresh re-authenticated one pooled connection only, and the others failed
 * with WRONGPASS once their token expired (dapr/components-contrib#3554).
 */
export class CredentialRotation {
  private current: { readonly username: string; readonly password: string } | undefined;
  private rotations = 0;

  constructor(
    private readonly topology: Topology,
    private readonly log: Logger,
  ) {
    // A connection that was mid-handshake during a rotation may have sent the
    // old password; one more AUTH once it is ready settles that. Before the
    // first rotation every handshake used the only credentials there were.
    topology.onConnection((connection) =>
      connection.on("ready", () => {
        if (this.rotations > 0) void this.authenticate(connection);
      }),
    );
  }

  /** Resolves once every open connection has answered its AUTH (failures are logged). */
  async apply(username: string, password: string): Promise<void> {
    const previous = this.current;
    this.current = { username, password };
    this.topology.setCredentials(username, password);
    if (previous === undefined) return;
    if (previous.username === username && previous.password === password) return;
    this.rotations++;
    const open = this.topology.connections().filter((connection) => connection.status === "ready");
    await Promise.all(open.map((connection) => this.authenticate(connection)));
  }

  private async authenticate(connection: Redis): Promise<void> {
    const credentials = this.current;
    if (credentials === undefined) return;
    try {
      await connection.call("AUTH", credentials.username, credentials.password);
    } catch (error) {
      // The connection keeps its earlier authentication; if that expires the
      // server drops it and the reconnect uses the new credentials.
      this.log.error(
        { cause: error instanceof Error ? error.message : String(error) },
        "redis re-authentication failed",
      );
    }
  }
}
