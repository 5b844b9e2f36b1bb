import { createConnection, type Socket } from "node:net";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { AbstractConnector, type SentinelConnectionOptions, SentinelConnector } from "ioredis";

/**
 * How ioredis opens sockets, with one difference: every socket keeps an
 * 'error' listener for its whole life. ioredis listens with `once`, so a
 * socket that reports a second error kills the process with an uncaught
 * exception; a TLS socket ended mid-handshake (a stop, or a reconnect, while
 * the server's certificate is being refused) does exactly that when the
 * server answers with an alert. The first error still reaches ioredis.
 */
const ignore = () => {};

interface DataNodeOptions {
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly family?: number | undefined;
  readonly tls?: ConnectionOptions | undefined;
  readonly disconnectTimeout?: number | undefined;
}

/** ioredis's own default for how long a closing socket may linger. */
const DISCONNECT_TIMEOUT_MS = 2000;

/** A node or cluster node: plain TCP, or TLS with the binding's options. */
export class DataNodeConnector extends AbstractConnector {
  private readonly options: DataNodeOptions;

  /** ioredis hands every connector the client's whole options object. */
  constructor(options: unknown) {
    const dataNode = options as DataNodeOptions;
    super(dataNode.disconnectTimeout ?? DISCONNECT_TIMEOUT_MS);
    this.options = dataNode;
  }

  connect(): Promise<Socket> {
    this.connecting = true;
    const { host, port, family, tls } = this.options;
    // ioredis always fills these in (its defaults are localhost:6379).
    const target = {
      host: host ?? "localhost",
      port: port ?? 6379,
      ...(family !== undefined ? { family } : {}),
    };
    return new Promise((resolve, reject) => {
      // As ioredis does: a disconnect() in the same tick cancels the dial.
      process.nextTick(() => {
        if (!this.connecting) {
          reject(new Error("Connection is closed."));
          return;
        }
        let stream: Socket;
        try {
          // net and tls both take host/port/family (tls passes them on to net).
          stream =
            tls === undefined
              ? createConnection(target)
              : tlsConnect({ ...target, ...tls } as ConnectionOptions);
        } catch (error) {
          reject(error);
          return;
        }
        stream.once("error", (error) => {
          this.firstError = error;
        });
        stream.on("error", ignore);
        this.stream = stream;
        resolve(stream);
      });
    });
  }
}

/** Sentinel mode: ioredis's connector, with the same lifelong listener on the master's socket. */
export class QuietSentinelConnector extends SentinelConnector {
  constructor(options: unknown) {
    super(options as SentinelConnectionOptions);
  }

  override async connect(...args: Parameters<SentinelConnector["connect"]>): Promise<Socket> {
    const stream = await super.connect(...args);
    stream.on("error", ignore);
    return stream;
  }

  /**
   * Ends the master's socket and the failover detector's Sentinel
   * connections. A socket that QUIT has closed already is left alone:
   * ioredis would end it again and wait for a close that came before,
   * keeping the process alive for its disconnect timeout (2 s).
   */
  override disconnect(): void {
    if (this.stream?.destroyed === true) {
      (this as unknown as { stream: Socket | undefined }).stream = undefined;
    }
    super.disconnect();
  }
}
