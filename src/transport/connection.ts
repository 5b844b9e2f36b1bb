import { readFileSync } from "node:fs";
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { RuntimeSettings } from "../config/settings.js";
import { ConfigError } from "../errors.js";

/** Unanswered PINGs before nats.js declares the connection stale (see below). */
export const MAX_PING_OUT = 2;

/** Connection options from PROTOCOL section 7; files are read once, here. */
export function natsConnectionOptions(settings: RuntimeSettings, name: string): ConnectionOptions {
  const authenticators: Authenticator[] = [];
  if (settings.natsCredsFile !== undefined) {
    authenticators.push(credsAuthenticator(readSetting("NATS_CREDS", settings.natsCredsFile)));
  }
  if (settings.natsNkeySeedFile !== undefined) {
    const seed = readSetting("NATS_NKEY_SEED", settings.natsNkeySeedFile).toString("utf8").trim();
    authenticators.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  const tlsWanted =
    settings.natsTlsCaFile !== undefined ||
    settings.natsTlsCertFile !== undefined ||
    settings.natsTlsKeyFile !== undefined;
  return {
    servers: [...settings.natsServers],
    name,
    // Reconnect forever: a worker that gives up on NATS is a worker nobody can reach.
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: 1000,
    // A silent partition (no FIN, no RST) is only noticed by unanswered PINGs.
    // nats.js sends one every pingInterval and, at the tick that finds
    // maxPingOut still unanswered, reports "staleConnection", drops the socket
    // and reconnects: detection within about (maxPingOut + 1) x pingInterval,
    // 60 s with the 20 s default. The library's defaults (2 min, 2) would leave
    // a deaf worker reporting ready for up to 6 min. 2 rather than 1 so that
    // one PONG delayed by a busy event loop or server does not cost a
    // reconnect.
    pingInterval: settings.natsPingIntervalMs,
    maxPingOut: MAX_PING_OUT,
    noAsyncTraces: true,
    ...(authenticators.length > 0 ? { authenticator: authenticators } : {}),
    ...(settings.natsToken !== undefined ? { token: settings.natsToken } : {}),
    ...(settings.natsUser !== undefined
      ? { user: settings.natsUser, pass: settings.natsPassword ?? "" }
      : {}),
    ...(tlsWanted
      ? {
          tls: {
            ...(settings.natsTlsCaFile !== undefined ? { caFile: settings.natsTlsCaFile } : {}),
            ...(settings.natsTlsCertFile !== undefined
              ? { certFile: settings.natsTlsCertFile }
              : {}),
            ...(settings.natsTlsKeyFile !== undefined ? { keyFile: settings.natsTlsKeyFile } : {}),
          },
        }
      : {}),
  };
}

function readSetting(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(
      "environment",
      undefined,
      variable,
      `cannot read ${file}: ${(error as Error).message}`,
    );
  }
}

/** A NATS connection and whether it is up right now (for /readyz). */
export interface NatsLink {
  readonly nc: NatsConnection;
  readonly connected: boolean;
  /** Reconnections since start, for metrics. */
  readonly reconnects: number;
}

const FIRST_CONNECT_REPORT_MS = 5000;

export async function connectNats(
  settings: RuntimeSettings,
  name: string,
  log: Logger,
): Promise<NatsLink> {
  // The client retries the first connection silently (refused, TLS handshake
  // failing, unreachable): say so now and then, or a worker that cannot reach
  // NATS looks like one that hangs.
  const started = Date.now();
  const waiting = setInterval(() => {
    log.warn(
      { servers: settings.natsServers, waitedMs: Date.now() - started },
      "still not connected to NATS; retrying",
    );
  }, FIRST_CONNECT_REPORT_MS);
  let nc: NatsConnection;
  try {
    nc = await connect(natsConnectionOptions(settings, name));
  } finally {
    clearInterval(waiting);
  }
  log.info({ server: nc.getServer() }, "connected to NATS");
  const link = { nc, connected: true, reconnects: 0 };
  void watchStatus(link, log, settings.natsPingIntervalMs);
  return link;
}

/** Connection events are worth a log line each; they explain outages afterwards. */
async function watchStatus(
  link: { nc: NatsConnection; connected: boolean; reconnects: number },
  log: Logger,
  pingIntervalMs: number,
): Promise<void> {
  for await (const status of link.nc.status()) {
    switch (status.type) {
      case "staleConnection":
        // PINGs went unanswered: the line is silent (a partition), not closed.
        // The client drops the socket now ("disconnect" follows) and
        // reconnects; until "reconnect" nothing sent or subscribed here
        // reaches the server, so the worker is not ready.
        link.connected = false;
        log.warn(
          { server: link.nc.getServer(), pingIntervalMs, maxPingOut: MAX_PING_OUT },
          "NATS connection stale: server stopped answering PINGs; reconnecting",
        );
        break;
      case "disconnect":
        link.connected = false;
        log.warn({ server: status.server }, "disconnected from NATS");
        break;
      case "reconnect":
        link.connected = true;
        link.reconnects++;
        log.info({ server: status.server }, "reconnected to NATS");
        break;
      case "close":
        link.connected = false;
        break;
      case "error":
        log.error({ err: status.error }, "NATS error");
        break;
      case "slowConsumer":
        log.warn({ subscription: status.sub.getSubject() }, "NATS slow consumer");
        break;
      default:
        break;
    }
  }
}
