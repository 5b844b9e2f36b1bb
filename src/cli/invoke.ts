import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { BindingClient, checkBindingName } from "../client/client.js";
import { durationMs } from "../client/duration.js";
import { BindingError, NoRespondersError, ReplyTimeoutError } from "../client/errors.js";
import { CliError, EXIT, usageError } from "./errors.js";
import { cliRuntimeSettings, connectCli } from "./nats.js";

export const INVOKE_HELP = `Usage: redis-binding-worker invoke <binding> <operation> [options]

Sends one request to <prefix>.<binding> (prefix: BINDINGS_SUBJECT_PREFIX, default
"bindings") and prints the reply. Operations: create, get, delete, increment.

Options:
  --key K             metadata.key (every operation needs one)
  --data JSON         create: the value, as JSON; text that is not JSON is sent as a string
  --ttl T             create, increment: expiry in seconds (60) or as a duration (90s, 1h)
  --delete            get: read and delete in one step
  --meta NAME=VALUE   any other metadata entry; repeat for more
  --raw-file FILE     raw mode: send the bytes of FILE as the value (Content-Type
                      application/octet-stream) and write the reply's bytes to stdout
  --raw-stdin         raw mode with the value read from stdin
  --raw               raw mode without a value, e.g. get --raw > value.bin
  --durable           send through JetStream, so a worker's death does not lose the request
  --msg-id ID         with --durable: the request's Nats-Msg-Id; sending the same ID again
                      (a retry) is carried out once and answered the same (within about
                      10 s of the first send, the retry waits for the stream to take it)
  --timeout D         how long to wait for the reply (default 10s); the worker gets the
                      same deadline. Milliseconds or a duration: 500ms, 5s
  -h, --help          this text

NATS: NATS_URL (default nats://127.0.0.1:4222) and the other NATS_* settings, as for
the worker.

Output: the reply on stdout: {"data":...} for get and increment, nothing for a
success without content (create, delete, get of a missing key). In raw mode the
reply's bytes as they are.

Exit codes:
  0  success
  1  the worker answered with an error; stderr: "error <status> <errorCode>: <message>"
  2  bad usage
  3  no answer: NATS unreachable, no worker serving the binding, or the timeout passed

Examples:
  redis-binding-worker invoke cache create --key greeting --data '{"hello":"world"}' --ttl 1h
  redis-binding-worker invoke cache get --key greeting
  redis-binding-worker invoke cache increment --key hits
  redis-binding-worker invoke cache create --key logo --raw-file logo.png
  redis-binding-worker invoke cache get --key logo --raw > copy.png`;

interface InvokeCommand {
  readonly binding: string;
  readonly operation: string;
  readonly metadata: Record<string, string>;
  readonly raw: boolean;
  readonly value: unknown;
  readonly durable: boolean;
  readonly msgId: string | undefined;
  readonly timeoutMs: number | undefined;
}

export async function runInvoke(args: string[]): Promise<number> {
  const parsed = parseInvokeArgs(args);
  if (parsed === "help") {
    process.stdout.write(`${INVOKE_HELP}\n`);
    return EXIT.ok;
  }
  const command = await resolveValue(parsed);
  const runtime = cliRuntimeSettings();
  const nc = await connectCli(runtime);
  try {
    const client = new BindingClient(nc, command.binding, { subjectPrefix: runtime.subjectPrefix });
    const reply = await send(client, command);
    if (command.raw) process.stdout.write(reply);
    else if (reply.length > 0) process.stdout.write(`${Buffer.from(reply).toString("utf8")}\n`);
    return EXIT.ok;
  } finally {
    await nc.close();
  }
}

async function send(client: BindingClient, command: InvokeCommand): Promise<Uint8Array> {
  try {
    return await client.invoke(command.operation, command.metadata, {
      raw: command.raw,
      value: command.value,
      durable: command.durable,
      ...(command.msgId !== undefined ? { msgId: command.msgId } : {}),
      ...(command.timeoutMs !== undefined ? { timeout: command.timeoutMs } : {}),
    });
  } catch (error) {
    if (error instanceof NoRespondersError || error instanceof ReplyTimeoutError) {
      throw new CliError(`no reply: ${error.message}`, EXIT.unreachable);
    }
    if (error instanceof BindingError) {
      throw new CliError(`error ${error.status} ${error.code}: ${error.message}`, EXIT.failed);
    }
    throw error;
  }
}

type ParsedInvoke = Omit<InvokeCommand, "value"> & {
  readonly data: string | undefined;
  readonly rawFile: string | undefined;
  readonly rawStdin: boolean;
};

function parseInvokeArgs(args: string[]): ParsedInvoke | "help" {
  let parsed: ReturnType<typeof parseInvokeOptions>;
  try {
    parsed = parseInvokeOptions(args);
  } catch (error) {
    throw usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  const [binding, operation, ...extra] = positionals;
  if (binding === undefined || operation === undefined) {
    throw usageError("invoke needs a binding and an operation, e.g. invoke cache get --key k");
  }
  if (extra.length > 0) throw usageError(`unexpected argument "${extra[0]}"`);
  try {
    checkBindingName(binding);
  } catch (error) {
    throw usageError((error as Error).message);
  }
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    try {
      timeoutMs = durationMs(values.timeout, "--timeout");
    } catch (error) {
      throw usageError((error as Error).message);
    }
  }

  const sources = [values.data, values["raw-file"], values["raw-stdin"]].filter(
    (source) => source !== undefined && source !== false,
  );
  if (sources.length > 1) throw usageError("give only one of --data, --raw-file, --raw-stdin");
  if (values["msg-id"] !== undefined && values.durable !== true) {
    throw usageError("--msg-id only applies to --durable requests");
  }

  const metadata: Record<string, string> = {};
  for (const entry of values.meta ?? []) {
    const at = entry.indexOf("=");
    if (at <= 0) throw usageError(`--meta wants NAME=VALUE, got "${entry}"`);
    metadata[entry.slice(0, at)] = entry.slice(at + 1);
  }
  if (values.key !== undefined) metadata.key = values.key;
  if (values.ttl !== undefined) metadata.ttlInSeconds = values.ttl;
  if (values.delete) metadata.delete = "true";

  return {
    binding,
    operation,
    metadata,
    raw: values.raw === true || values["raw-file"] !== undefined || values["raw-stdin"] === true,
    durable: values.durable === true,
    msgId: values["msg-id"],
    timeoutMs,
    data: values.data,
    rawFile: values["raw-file"],
    rawStdin: values["raw-stdin"] === true,
  };
}

function parseInvokeOptions(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      key: { type: "string" },
      data: { type: "string" },
      ttl: { type: "string" },
      delete: { type: "boolean" },
      meta: { type: "string", multiple: true },
      raw: { type: "boolean" },
      "raw-file": { type: "string" },
      "raw-stdin": { type: "boolean" },
      durable: { type: "boolean" },
      "msg-id": { type: "string" },
      timeout: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** The value to send: file or stdin bytes in raw mode, `--data` parsed as JSON otherwise. */
async function resolveValue(parsed: ParsedInvoke): Promise<InvokeCommand> {
  const { data, rawFile, rawStdin, ...command } = parsed;
  let value: unknown;
  if (rawFile !== undefined) {
    try {
      value = await readFile(rawFile);
    } catch (error) {
      throw new CliError(`--raw-file: ${(error as Error).message}`, EXIT.usage);
    }
  } else if (rawStdin) {
    value = await readStdin();
  } else if (data !== undefined) {
    value = command.raw ? data : parseData(data);
  }
  return { ...command, value };
}

/** `--data` is JSON; a value that is not JSON is taken as a plain string. */
function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
