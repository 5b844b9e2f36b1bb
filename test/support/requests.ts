import { type Msg, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";

export interface BindingReply {
  /** 200 for success, else the Nats-Service-Error-Code. */
  readonly status: number;
  readonly text: string;
  readonly json: unknown;
  readonly msg: Msg;
}

export function readReply(msg: Msg): BindingReply {
  const code = msg.headers?.get("Nats-Service-Error-Code");
  const text = new TextDecoder().decode(msg.data);
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: code ? Number(code) : 200, text, json, msg };
}

/** Sends a JSON-mode request (an object is serialised, a string or bytes sent as they are). */
export async function request(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  options: { timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<BindingReply> {
  const payload =
    typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const headers = options.headers ? natsHeaders() : undefined;
  for (const [name, value] of Object.entries(options.headers ?? {})) headers?.set(name, value);
  const msg = await nc.request(subject, payload, {
    timeout: options.timeoutMs ?? 5000,
    ...(headers ? { headers } : {}),
  });
  return readReply(msg);
}

/** Sends a raw-mode request: operation and metadata in headers, payload as bytes. */
export async function rawRequest(
  nc: NatsConnection,
  subject: string,
  operation: string,
  metadata: Record<string, string>,
  payload: Uint8Array = new Uint8Array(0),
): Promise<BindingReply> {
  const headers = natsHeaders();
  headers.set("Content-Type", "application/octet-stream");
  headers.set("operation", operation);
  for (const [key, value] of Object.entries(metadata)) headers.set(`metadata.${key}`, value);
  return readReply(await nc.request(subject, payload, { timeout: 5000, headers }));
}
