import { createServer } from "node:net";

/**
 * Ports that host services on these machines already hold. The kernel never hands them out for
 * port 0 (they sit below the ephemeral range), but a test must never talk to the host's NATS or
 * Redis by accident, so they are refused outright.
 */
const RESERVED_PORTS = new Set([4222, 6379, 8222, 16379]);

/**
 * Ports this process has already handed out. The kernel may give the same ephemeral port again
 * once the probe socket is closed and before the server that was meant to take it has bound it;
 * remembering them keeps two servers of the same suite from racing for one port.
 */
const handedOut = new Set<number>();

/** Binds 127.0.0.1:0 (or `host`:0) and returns the port the kernel picked, then releases it. */
function probe(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : undefined;
      server.close((err) => {
        if (err) reject(err);
        else if (port === undefined) reject(new Error(`could not read the port bound on ${host}`));
        else resolve(port);
      });
    });
  });
}

/** True when `port` can be bound on `host` right now. */
export function isPortFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

export interface FreePortOptions {
  /** Interface to probe; defaults to 127.0.0.1, where every harness server listens. */
  host?: string;
  /**
   * Also require `port + offset` to be free for each offset, e.g. `[10000]` for a Redis Cluster
   * node whose bus port defaults to port + 10000.
   */
  alsoFree?: number[];
}

/**
 * A TCP port that is free on 127.0.0.1 at the time of the call. There is an unavoidable window
 * between this probe and the server binding the port; callers that spawn a server retry with a
 * new port when the bind fails (see nats.ts / redis.ts).
 */
export async function getFreePort(options: FreePortOptions = {}): Promise<number> {
  const host = options.host ?? "127.0.0.1";
  const offsets = options.alsoFree ?? [];
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await probe(host);
    if (RESERVED_PORTS.has(port) || handedOut.has(port)) continue;
    let extrasFree = true;
    for (const offset of offsets) {
      const extra = port + offset;
      if (extra > 65535 || RESERVED_PORTS.has(extra) || handedOut.has(extra)) {
        extrasFree = false;
        break;
      }
      if (!(await isPortFree(extra, host))) {
        extrasFree = false;
        break;
      }
    }
    if (!extrasFree) continue;
    handedOut.add(port);
    for (const offset of offsets) handedOut.add(port + offset);
    return port;
  }
  throw new Error(`no free TCP port found on ${host} after 50 attempts`);
}
