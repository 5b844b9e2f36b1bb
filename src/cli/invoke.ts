import { parseArgs } from "node:util";
import { connect, type Msg, headers as natsHeaders } from "@nats-io/transport-node";
import { loadRuntimeSettings } from "../config/runtime.js";
import { natsConnectionOptions } from "../transport/connection.js";

const HELP = `Usage: redis-binding-worker invoke <binding> <operation> [options]

Sends one request to <BINDINGS_SUBJECT_PREFIX>.<binding> and prints the reply.

Options:
  --key K          metadata.key (required by every operation)
  --data JSON      the value for create, as JSON (a bare word is sent as a string)
  --ttl N          ttlInSeconds for create and increment (seconds or a duration: 90s)
  --delete         get: read and delete atomically
  --timeout D      how long to wait for the reply (default 10s; also sent as Binding-Timeout)

Exit codes: 0 success, 1 the worker answered with an error, 2 bad usage, 3 no reply.`;

export async function runInvoke(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      key: { type: "string" },
      data: { type: "string" },
      ttl: { type: "string" },
      delete: { type: "boolean" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const [binding, operation] = positionals;
  if (binding === undefined || operation === undefined) {
    process.stderr.write(`${HELP}\n`);
    return 2;
  }
  const metadata: Record<string, string> = {};
  if (values.key !== undefined) metadata.key = values.key;
  if (values.ttl !== undefined) metadata.ttlInSeconds = values.ttl;
  if (values.delete) metadata.delete = "true";
  const request: Record<string, unknown> = { operation, metadata };
  if (values.data !== undefined) request.data = parseData(values.data);

  const timeoutMs = parseTimeout(values.timeout);
  const runtime = loadRuntimeSettings();
  const nc = await connect({
    ...natsConnectionOptions(runtime, "redis-binding-worker-cli"),
    waitOnFirstConnect: false,
    maxReconnectAttempts: 0,
  });
  try {
    const requestHeaders = natsHeaders();
    requestHeaders.set("Binding-Timeout", `${timeoutMs}ms`);
    let reply: Msg;
    try {
      reply = await nc.request(`${runtime.subjectPrefix}.${binding}`, JSON.stringify(request), {
        timeout: timeoutMs,
        headers: requestHeaders,
      });
    } catch (error) {
      process.stderr.write(`no reply: ${(error as Error).message}\n`);
      return 3;
    }
    return printReply(reply);
  } finally {
    await nc.close();
  }
}

function printReply(reply: Msg): number {
  const code = reply.headers?.get("Nats-Service-Error-Code");
  if (code) {
    process.stderr.write(`error ${code}: ${reply.string()}\n`);
    return 1;
  }
  process.stdout.write(reply.data.length === 0 ? "(ok, no content)\n" : `${reply.string()}\n`);
  return 0;
}

/** `--data` is JSON; a value that is not JSON is taken as a plain string. */
function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return 10_000;
  const match = /^(\d+)(ms|s)?$/.exec(text.trim());
  if (!match) throw new Error(`bad --timeout ${JSON.stringify(text)}: want e.g. 500ms or 5s`);
  return Number(match[1]) * (match[2] === "s" ? 1000 : 1);
}
