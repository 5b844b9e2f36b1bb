import { connect as netConnect, type Socket } from "node:net";

/**
 * A bare NATS protocol client over TCP, for sending what a well-behaved client
 * library refuses to: header blocks with invalid names, no colon, bytes that
 * are not UTF-8, odd status lines. The server passes such blocks on to
 * subscribers as they are, so a hostile caller can send them to the worker.
 */

export interface RawMessage {
  readonly subject: string;
  readonly reply: string | undefined;
  readonly header: Buffer | undefined;
  readonly payload: Buffer;
}

const CRLF = Buffer.from("\r\n");

export class RawNatsClient {
  private buffer = Buffer.alloc(0);
  private readonly pongs: Array<() => void> = [];
  private nextSid = 1;
  readonly errors: string[] = [];
  private handler: ((message: RawMessage) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    socket.on("error", () => undefined);
  }

  static async connect(host: string, port: number, auth: Record<string, string> = {}) {
    const socket = netConnect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const client = new RawNatsClient(socket);
    const connectOptions = {
      verbose: false,
      pedantic: false,
      headers: true,
      no_responders: true,
      protocol: 1,
      lang: "raw-fuzz",
      version: "0",
      ...auth,
    };
    socket.write(`CONNECT ${JSON.stringify(connectOptions)}\r\n`);
    await client.ping();
    return client;
  }

  onMessage(handler: (message: RawMessage) => void): void {
    this.handler = handler;
  }

  subscribe(subject: string): void {
    this.socket.write(`SUB ${subject} ${this.nextSid++}\r\n`);
  }

  /** HPUB when a header block is given (sent byte for byte), PUB otherwise. */
  publish(subject: string, reply: string, header: Uint8Array | undefined, payload: Uint8Array) {
    if (header === undefined) {
      this.socket.write(`PUB ${subject} ${reply} ${payload.length}\r\n`);
      this.socket.write(Buffer.concat([Buffer.from(payload), CRLF]));
      return;
    }
    const total = header.length + payload.length;
    this.socket.write(`HPUB ${subject} ${reply} ${header.length} ${total}\r\n`);
    this.socket.write(Buffer.concat([Buffer.from(header), Buffer.from(payload), CRLF]));
  }

  /** Round trip to the server: everything sent before has been processed. */
  ping(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no PONG from the server")), timeoutMs);
      this.pongs.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.write("PING\r\n");
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private parse(): void {
    for (;;) {
      const end = this.buffer.indexOf(CRLF);
      if (end < 0) return;
      const line = this.buffer.subarray(0, end).toString("utf8");
      const parts = line.split(" ");
      const op = parts[0]?.toUpperCase();
      if (op === "MSG" || op === "HMSG") {
        // MSG subject sid [reply] size | HMSG subject sid [reply] hdrSize totalSize
        const withHeaders = op === "HMSG";
        const sizes = withHeaders ? 2 : 1;
        const hasReply = parts.length === 3 + sizes + 1;
        const total = Number(parts.at(-1));
        const headerSize = withHeaders ? Number(parts.at(-2)) : 0;
        const start = end + 2;
        if (this.buffer.length < start + total + 2) return;
        const body = this.buffer.subarray(start, start + total);
        this.buffer = this.buffer.subarray(start + total + 2);
        this.handler?.({
          subject: parts[1] ?? "",
          reply: hasReply ? parts[3] : undefined,
          header: withHeaders ? Buffer.from(body.subarray(0, headerSize)) : undefined,
          payload: Buffer.from(body.subarray(headerSize)),
        });
        continue;
      }
      this.buffer = this.buffer.subarray(end + 2);
      if (op === "PING") this.socket.write("PONG\r\n");
      else if (op === "PONG") this.pongs.shift()?.();
      else if (op === "-ERR") this.errors.push(line);
    }
  }
}

/** Reads a header block the way a NATS client would: the status line, then `Name: value` lines. */
export function parseHeaderBlock(header: Buffer | undefined): Map<string, string> {
  const result = new Map<string, string>();
  if (header === undefined) return result;
  const lines = header.toString("utf8").split("\r\n").slice(1);
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) result.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return result;
}
