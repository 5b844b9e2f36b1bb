import {
  type Attributes,
  context,
  createContextKey,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import {
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from "@opentelemetry/semantic-conventions";
import type { Invocation } from "../binding/invocation.js";
import type { RedisPort } from "../binding/redis-port.js";
import { recordKey } from "../redis/idempotent-key.js";
import type { OnceRunner } from "../transport/durable/intake.js";
import type { RedisInstrumentation } from "./instrumentation.js";
import type { BindingMetrics } from "./metrics.js";
import { ATTR_BINDING_REDIS_ATTEMPT } from "./semconv.js";

/**
 * CLIENT spans for Redis commands, one per attempt, so retries show as
 * separate spans under the request.
 *
 * Why not ioredis's own tracing (its `ioredis:command` diagnostics channel) or
 * @opentelemetry/instrumentation-ioredis: both start the span where ioredis
 * writes the command, and with auto-pipelining (our main throughput lever)
 * that happens in a setImmediate scheduled by the first command of the batch.
 * Every command of a batch then becomes a child of whichever request came
 * first. (The instrumentation also needs an ESM loader hook to patch ioredis
 * at all.) Here the span starts in the request's own async context instead.
 *
 * Two halves cooperate through the OpenTelemetry context: the port decorator
 * knows which command a call is and puts that in the context, only while the
 * request's span records; the attempt observer, called by redis/retry.ts
 * around each attempt, turns it into a span.
 */

interface CommandInfo {
  readonly name: string;
  /** The command with every value replaced by `?`: key names only, never data. */
  readonly text: string;
}

const COMMAND = createContextKey("redis-binding-worker: Redis command of this call");

/** Where a binding's Redis is, for span attributes; address only when it is one known node. */
export interface RedisTarget {
  readonly db: number;
  readonly address?: { readonly host: string; readonly port: number };
}

export class RedisTracing implements RedisInstrumentation {
  private readonly targetAttributes: Attributes;

  constructor(
    private readonly tracer: Tracer,
    private readonly metrics: BindingMetrics,
    target: RedisTarget,
  ) {
    this.targetAttributes = Object.freeze({
      [ATTR_DB_SYSTEM_NAME]: "redis",
      [ATTR_DB_NAMESPACE]: String(target.db),
      ...(target.address !== undefined
        ? { [ATTR_SERVER_ADDRESS]: target.address.host, [ATTR_SERVER_PORT]: target.address.port }
        : {}),
    });
  }

  /** `inner` with each call naming its Redis command for the attempt spans. */
  port(inner: RedisPort): RedisPort {
    return new CommandNamingPort(inner);
  }

  attempt<T>(retry: number, run: () => Promise<T>): Promise<T> {
    const active = context.active();
    const command = active.getValue(COMMAND) as CommandInfo | undefined;
    if (command === undefined) return run();
    const span = this.tracer.startSpan(
      command.name,
      { kind: SpanKind.CLIENT, attributes: this.targetAttributes },
      active,
    );
    span.setAttribute(ATTR_DB_OPERATION_NAME, command.name);
    span.setAttribute(ATTR_DB_QUERY_TEXT, command.text);
    span.setAttribute(ATTR_BINDING_REDIS_ATTEMPT, retry + 1);
    let pending: Promise<T>;
    try {
      pending = run();
    } catch (error) {
      failed(span, error);
      throw error;
    }
    return pending.then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        failed(span, error);
        throw error;
      },
    );
  }

  retrying(): void {
    this.metrics.retried();
  }

  /**
   * The durable intake's at-most-once runner, naming the command each call
   * sends while the delivery's span records, so that attempt() gives every
   * attempt its CLIENT span, retries included, as on the direct path.
   */
  onceRunner(inner: OnceRunner, bindingName: string): OnceRunner {
    // Every argument is passed on as it is, whatever the runner takes.
    return (...args: Parameters<OnceRunner>) => {
      const active = context.active();
      if (trace.getSpan(active)?.isRecording() !== true) return inner(...args);
      const [invocation, requestId] = args;
      const command = onceCommand(invocation, recordKey(bindingName, invocation.key, requestId));
      return context.with(active.setValue(COMMAND, command), () => inner(...args));
    };
  }
}

/**
 * What a durable invocation sends: one Lua script (EVALSHA, numkeys 2: the
 * data key and its applied-record key) for everything but a plain `get`,
 * which is a GET. Values and the script's sha are `?`.
 */
function onceCommand(invocation: Invocation, record: string): CommandInfo {
  const keys = `${invocation.key} ${record}`;
  switch (invocation.operation) {
    case "create": // record TTL, value, value TTL
      return { name: "EVALSHA", text: `EVALSHA ? 2 ${keys} ? ? ?` };
    case "increment": // record TTL, value TTL
      return { name: "EVALSHA", text: `EVALSHA ? 2 ${keys} ? ?` };
    case "delete": // record TTL
      return { name: "EVALSHA", text: `EVALSHA ? 2 ${keys} ?` };
    case "get":
      return invocation.deleteAfterRead
        ? { name: "EVALSHA", text: `EVALSHA ? 2 ${keys} ?` }
        : { name: "GET", text: `GET ${invocation.key}` };
  }
}

function failed(span: Span, error: unknown): void {
  const type = errorType(error);
  span.setAttribute(ATTR_ERROR_TYPE, type.name);
  if (type.redisCode !== undefined) span.setAttribute(ATTR_DB_RESPONSE_STATUS_CODE, type.redisCode);
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    ...(error instanceof Error ? { message: error.message } : {}),
  });
  span.end();
}

/** A Redis error reply's prefix (WRONGTYPE, NOPERM, ...) is its code; else the error's class. */
function errorType(error: unknown): { name: string; redisCode?: string } {
  if (!(error instanceof Error)) return { name: "unknown" };
  if (error.name === "ReplyError") {
    const prefix = /^[A-Z][A-Z_]*(?=\s|$)/.exec(error.message)?.[0];
    if (prefix !== undefined) return { name: prefix, redisCode: prefix };
  }
  return { name: error.name };
}

/**
 * Puts the command a call will send into the context, but only for a request
 * being recorded. Its text is `<head> <key><tail>`, values already `?`.
 */
function named<T>(
  name: string,
  head: string,
  key: string,
  tail: string,
  call: () => Promise<T>,
): Promise<T> {
  const active = context.active();
  if (trace.getSpan(active)?.isRecording() !== true) return call();
  const info: CommandInfo = { name, text: `${head} ${key}${tail}` };
  return context.with(active.setValue(COMMAND, info), call);
}

class CommandNamingPort implements RedisPort {
  constructor(private readonly inner: RedisPort) {}

  // Each call hands the request's deadline on: the inner port's retries stop there.

  set(
    key: string,
    value: Uint8Array,
    ttlMs: number | undefined,
    deadline: number | undefined,
  ): Promise<void> {
    return named("SET", "SET", key, ttlMs === undefined ? " ?" : " ? PX ?", () =>
      this.inner.set(key, value, ttlMs, deadline),
    );
  }

  get(key: string, deadline: number | undefined): Promise<Buffer | null> {
    return named("GET", "GET", key, "", () => this.inner.get(key, deadline));
  }

  getDel(key: string, deadline: number | undefined): Promise<Buffer | null> {
    return named("GETDEL", "GETDEL", key, "", () => this.inner.getDel(key, deadline));
  }

  del(key: string, deadline: number | undefined): Promise<void> {
    return named("DEL", "DEL", key, "", () => this.inner.del(key, deadline));
  }

  incr(key: string, ttlMs: number | undefined, deadline: number | undefined): Promise<string> {
    // With a TTL the port runs INCR and PEXPIRE as one script: EVALSHA <sha> 1 <key> <ttl>.
    return ttlMs === undefined
      ? named("INCR", "INCR", key, "", () => this.inner.incr(key, ttlMs, deadline))
      : named("EVALSHA", "EVALSHA ? 1", key, " ?", () => this.inner.incr(key, ttlMs, deadline));
  }
}
