import { createServer, connect as netConnect, type Socket } from "node:net";

export interface TcpProxyOptions {
  /** Interface to listen on; 127.0.0.1 by default. */
  host?: string;
  /** Port to listen on; a free one by default. A fixed port lets a test recreate the proxy. */
  port?: number;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Connections currently being forwarded. */
  readonly connections: number;
  /** Connections accepted since the start, including refused ones. */
  readonly accepted: number;
  /** Reset (RST) every live connection and refuse new ones, like a server or link going away. */
  cut(): void;
  /**
   * Keep connections open but move no bytes in either direction, like a network partition:
   * clients see timeouts rather than errors. Held bytes flow again after restore().
   */
  blackhole(): void;
  /** Undo cut() or blackhole(): accept and forward again. */
  restore(): void;
  /** Hold every chunk for `ms` before forwarding it (order is kept); 0 turns it off. */
  setDelay(ms: number): void;
  /** Stop listening and reset every connection. */
  close(): Promise<void>;
}

type State = "open" | "cut" | "blackhole" | "closed";

interface Direction {
  /** Pause or resume reading according to the proxy state and the receiver's backpressure. */
  updateFlow(): void;
  dispose(): void;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  directions: Direction[];
}

/** RST rather than FIN, so both peers see ECONNRESET as they would from a dead link. */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/**
 * A TCP forwarder for fault tests: put it between the code under test and a server, then cut,
 * blackhole, delay or restore the line while the test runs.
 */
export async function startTcpProxy(
  targetHost: string,
  targetPort: number,
  options: TcpProxyOptions = {},
): Promise<TcpProxy> {
  const host = options.host ?? "127.0.0.1";
  let state: State = "open";
  let delayMs = 0;
  let accepted = 0;
  const pairs = new Set<Pair>();

  const link = (src: Socket, dst: Socket): Direction => {
    const queue: { chunk: Buffer; due: number }[] = [];
    let timer: NodeJS.Timeout | undefined;
    let srcEnded = false;
    let backpressured = false;

    const updateFlow = () => {
      if (state === "open" && !backpressured) src.resume();
      else src.pause();
    };
    const write = (chunk: Buffer) => {
      if (dst.destroyed) return;
      if (!dst.write(chunk)) {
        backpressured = true;
        updateFlow();
        dst.once("drain", () => {
          backpressured = false;
          updateFlow();
        });
      }
    };
    const flush = () => {
      timer = undefined;
      const now = Date.now();
      for (let head = queue[0]; head && head.due <= now; head = queue[0]) {
        queue.shift();
        write(head.chunk);
      }
      const next = queue[0];
      if (next) timer = setTimeout(flush, next.due - now);
      else if (srcEnded) dst.end();
    };

    src.on("data", (chunk: Buffer) => {
      if (delayMs <= 0 && queue.length === 0) {
        write(chunk);
        return;
      }
      // Never schedule before the previous chunk, so lowering the delay cannot reorder bytes.
      const last = queue.at(-1)?.due ?? 0;
      queue.push({ chunk, due: Math.max(Date.now() + delayMs, last) });
      if (!timer) timer = setTimeout(flush, Math.max(0, (queue[0]?.due ?? 0) - Date.now()));
    });
    // Half-close is passed on once the delayed bytes are out, so request/response protocols that
    // end their side early still get their answer.
    src.on("end", () => {
      srcEnded = true;
      if (queue.length === 0) dst.end();
    });
    updateFlow();
    return { updateFlow, dispose: () => clearTimeout(timer) };
  };

  const drop = (pair: Pair) => {
    if (!pairs.delete(pair)) return;
    for (const d of pair.directions) d.dispose();
    reset(pair.client);
    reset(pair.upstream);
  };

  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    accepted++;
    client.on("error", () => undefined);
    if (state === "cut" || state === "closed") {
      reset(client);
      return;
    }
    const upstream = netConnect({ host: targetHost, port: targetPort, allowHalfOpen: true });
    upstream.on("error", () => undefined);
    const pair: Pair = { client, upstream, directions: [] };
    pairs.add(pair);
    pair.directions.push(link(client, upstream), link(upstream, client));
    // When either side goes away the other is reset, the way a failed target looks to a client.
    client.once("close", () => drop(pair));
    upstream.once("close", () => drop(pair));
  });

  const setState = (next: State) => {
    state = next;
    if (next === "cut" || next === "closed") {
      for (const pair of [...pairs]) drop(pair);
    } else {
      for (const pair of pairs) for (const d of pair.directions) d.updateFlow();
    }
  };

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port: options.port ?? 0 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("proxy has no address");
  const port = address.port;

  return {
    host,
    port,
    get connections() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    cut: () => setState("cut"),
    blackhole: () => setState("blackhole"),
    restore: () => {
      if (state !== "closed") setState("open");
    },
    setDelay(ms: number) {
      delayMs = Math.max(0, ms);
    },
    close() {
      if (state === "closed") return Promise.resolve();
      setState("closed");
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
