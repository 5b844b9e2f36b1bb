import type { Logger } from "pino";
import type { RedisBindingSettings } from "../config/settings.js";
import { defaultAzureCredential, type TokenCredentialFactory } from "./azure-credential.js";
import { ConnectionLog } from "./connection-log.js";
import { CredentialRotation } from "./credential-rotation.js";
import { EntraIdAuth } from "./entra-id.js";
import type { ScriptedClient } from "./scripts.js";
import type { Topology } from "./topology.js";
import { createTopology } from "./topology-factory.js";

export interface RedisConnectionsOptions {
  readonly log: Logger;
  /** Where an Entra ID binding gets its credential; DefaultAzureCredential unless given. */
  readonly tokenCredential?: TokenCredentialFactory;
}

/**
 * The connections of one binding, whatever the topology, with their
 * credentials and their log. Nothing connects before `connect()`, and with
 * Entra ID nothing connects before the first token is in effect.
 */
export class RedisConnections {
  private entraId: EntraIdAuth | undefined;
  private starting: Promise<void> | undefined;
  private connected = false;
  private closed = false;

  private constructor(
    private readonly settings: RedisBindingSettings,
    readonly topology: Topology,
    private readonly options: RedisConnectionsOptions,
  ) {
    topology.watch(new ConnectionLog(options.log));
  }

  static forBinding(
    settings: RedisBindingSettings,
    options: RedisConnectionsOptions,
  ): RedisConnections {
    return new RedisConnections(settings, createTopology(settings), options);
  }

  /** The client for the next command. */
  pick(): ScriptedClient {
    return this.topology.pick();
  }

  /** True while commands can be served, and (Entra ID) the token in use is valid. */
  get ready(): boolean {
    return this.connected && this.topology.ready && (this.entraId?.healthy ?? true);
  }

  /** Starts connecting (after the first Entra ID token); failures are retried by ioredis. */
  connect(): void {
    this.starting ??= this.start().catch((error: unknown) => {
      this.options.log.error({ err: error }, "redis connections could not be started");
    });
  }

  async ping(): Promise<void> {
    // A PING on an unconnected ioredis client would connect it, before the
    // credentials are in place.
    if (!this.connected) throw new Error("redis connections are not started");
    await this.topology.ping();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.entraId?.close();
    await this.topology.close();
  }

  private async start(): Promise<void> {
    if (this.settings.useEntraID) {
      const factory = this.options.tokenCredential ?? defaultAzureCredential;
      const rotation = new CredentialRotation(this.topology, this.options.log);
      this.entraId = new EntraIdAuth({
        credential: await factory(this.settings),
        log: this.options.log,
        apply: (username, password) => rotation.apply(username, password),
      });
      if (this.closed) return;
      if (!(await this.entraId.start())) return;
    }
    if (this.closed) return;
    this.connected = true;
    this.topology.connect();
  }
}
