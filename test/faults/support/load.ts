import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import type { Redis } from "ioredis";

/**
 * A load loop for fault scenarios: `lanes` callers, each sending one request
 * after another, and a ledger of every request and what came back. The ledger
 * is then checked against Redis, so a scenario can say not only "every request
 * was answered" but also "every success is in Redis, and nothing ran twice".
 *
 * Operations are chosen so that Redis can prove what happened:
 * - `incr-once`: INCR of a key used by this request alone. Afterwards the key
 *   is 1 (applied), absent (not applied) or more than 1 (applied twice).
 * - `counter`: INCR of one of a few shared counters: the final value must lie
 *   between the successes and the successes plus the ambiguous failures.
 * - `create`: each lane overwrites its own key with a rising sequence number;
 *   the final value must be the last successful write, or a later write whose
 *   outcome was ambiguous (504, or no reply).
 * - `get`: reads the lane's key; a value must never be older than the last
 *   successful write the lane saw before sending the get.
 * - `getdel`, `delete`, `create-ttl`: exercise the other paths; their replies
 *   are counted like the rest.
 */

export type Operation = "incr-once" | "counter" | "create" | "get" | "getdel" | "delete";

/** What came back for one request. */
export type Result =
  /** A reply from a worker: 200 or its Nats-Service-Error-Code. */
  | { readonly kind: "reply"; readonly status: number; readonly body: string }
  /** NATS said no worker was subscribed (status 503 from the server): never delivered. */
  | { readonly kind: "no-responders" }
  /** Nothing came back before the client's timeout. */
  | { readonly kind: "timeout" }
  /** The client library failed the request (e.g. its connection closed). */
  | { readonly kind: "error"; readonly message: string };

export interface Entry {
  readonly id: number;
  readonly lane: number;
  readonly operation: Operation;
  readonly key: string;
  /** `create` only: the sequence number written. */
  readonly seq: number | undefined;
  readonly sentAt: number;
  doneAt: number;
  result: Result | undefined;
  /** `get` only: the lowest sequence number the read may return (last success before it was sent). */
  readonly minSeq: number | undefined;
}

export interface LoadOptions {
  readonly nc: NatsConnection;
  readonly subject: string;
  /** Distinguishes keys of concurrent or successive runs. */
  readonly runId: string;
  readonly lanes?: number;
  /** Client-side wait for a reply; should be well above the worker's request deadline. */
  readonly timeoutMs?: number;
  /** Pause between two requests of one lane. */
  readonly pauseMs?: number;
  /** Relative weights of the operations; default a mix of all. */
  readonly mix?: Partial<Record<Operation, number>>;
  /** Shared counters for `counter`. */
  readonly counters?: number;
  /** Extra request headers (e.g. Binding-Timeout). */
  readonly headers?: Record<string, string>;
  /** How one request is sent; default core request-reply on `subject` (see durableSender). */
  readonly sender?: Sender;
}

/** Sends one request body and reports how it ended; never throws. */
export type Sender = (body: unknown) => Promise<Result>;

const DEFAULT_MIX: Record<Operation, number> = {
  "incr-once": 3,
  counter: 2,
  create: 3,
  get: 2,
  getdel: 1,
  delete: 1,
};

export class Ledger {
  readonly entries: Entry[] = [];

  get sent(): number {
    return this.entries.length;
  }

  /** Entries whose result satisfies `predicate`. */
  where(predicate: (entry: Entry) => boolean): Entry[] {
    return this.entries.filter(predicate);
  }

  /** Replies by kind: "200", "503", ..., "no-responders", "timeout", "error". */
  byKind(entries: readonly Entry[] = this.entries): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const entry of entries) {
      const label = kindOf(entry.result);
      counts[label] = (counts[label] ?? 0) + 1;
    }
    return counts;
  }
}

export function kindOf(result: Result | undefined): string {
  if (result === undefined) return "pending";
  if (result.kind === "reply") return String(result.status);
  return result.kind;
}

export function isSuccess(entry: Entry): boolean {
  return entry.result?.kind === "reply" && entry.result.status === 200;
}

/**
 * May the request have been applied although it did not succeed? A 504 (the
 * command may still run), a 503 after a lost connection, a 500, a timeout or a
 * client error: yes. A 4xx, a 503 for overload, no-responders: no.
 */
export function mayHaveApplied(entry: Entry): boolean {
  const result = entry.result;
  if (result === undefined) return true;
  switch (result.kind) {
    case "no-responders":
      return false;
    case "timeout":
    case "error":
      return true;
    case "reply":
      if (result.status === 200) return true;
      if (result.status < 500) return false;
      if (result.status === 503 && /overloaded|shutting down/.test(result.body)) return false;
      return true;
  }
}

export interface LoadRun {
  readonly ledger: Ledger;
  /** Requests still waiting for their answer. */
  readonly pending: number;
  /** Stop sending; resolves once every request sent has its result. */
  stop(): Promise<Ledger>;
}

export function startLoad(options: LoadOptions): LoadRun {
  const ledger = new Ledger();
  const lanes = options.lanes ?? 8;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const pauseMs = options.pauseMs ?? 2;
  const counters = options.counters ?? 4;
  const sender: Sender =
    options.sender ??
    ((body) => send(options.nc, options.subject, body, timeoutMs, options.headers));
  const mix = Object.entries({ ...DEFAULT_MIX, ...(options.mix ?? {}) }).filter(
    ([, weight]) => weight > 0,
  ) as [Operation, number][];
  const totalWeight = mix.reduce((sum, [, weight]) => sum + weight, 0);
  let running = true;
  let pending = 0;
  let nextId = 0;

  const pick = (): Operation => {
    let roll = Math.random() * totalWeight;
    for (const [operation, weight] of mix) {
      roll -= weight;
      if (roll < 0) return operation;
    }
    return mix[0]?.[0] ?? "get";
  };

  const runLane = async (lane: number): Promise<void> => {
    let seq = 0;
    let lastGoodSeq: number | undefined;
    while (running) {
      const operation = pick();
      const id = nextId++;
      const laneKey = `${options.runId}:lane:${lane}`;
      let key: string;
      let body: Record<string, unknown>;
      let entrySeq: number | undefined;
      let minSeq: number | undefined;
      switch (operation) {
        case "incr-once":
          key = `${options.runId}:once:${id}`;
          body = { operation: "increment", metadata: { key } };
          break;
        case "counter":
          key = `${options.runId}:counter:${id % counters}`;
          body = { operation: "increment", metadata: { key } };
          break;
        case "create":
          seq++;
          entrySeq = seq;
          key = laneKey;
          body = { operation: "create", metadata: { key }, data: { lane, seq } };
          break;
        case "get":
          key = laneKey;
          minSeq = lastGoodSeq;
          body = { operation: "get", metadata: { key } };
          break;
        case "getdel":
          key = `${options.runId}:gd:${id}`;
          body = { operation: "get", metadata: { key, delete: "true" } };
          break;
        case "delete":
          key = `${options.runId}:del:${id}`;
          body = { operation: "delete", metadata: { key } };
          break;
      }
      const entry: Entry = {
        id,
        lane,
        operation,
        key,
        seq: entrySeq,
        sentAt: Date.now(),
        doneAt: 0,
        result: undefined,
        minSeq,
      };
      ledger.entries.push(entry);
      pending++;
      entry.result = await sender(body);
      entry.doneAt = Date.now();
      pending--;
      if (operation === "create" && isSuccess(entry)) lastGoodSeq = entrySeq;
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };

  const done = Promise.all(Array.from({ length: lanes }, (_, lane) => runLane(lane)));
  return {
    ledger,
    get pending() {
      return pending;
    },
    async stop() {
      running = false;
      await done;
      return ledger;
    },
  };
}

/** One request; every way it can end becomes a Result, nothing throws. */
export async function send(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  timeoutMs: number,
  extraHeaders?: Record<string, string>,
): Promise<Result> {
  let requestHeaders: ReturnType<typeof natsHeaders> | undefined;
  if (extraHeaders) {
    requestHeaders = natsHeaders();
    for (const [name, value] of Object.entries(extraHeaders)) requestHeaders.set(name, value);
  }
  try {
    const msg = await nc.request(subject, JSON.stringify(body), {
      timeout: timeoutMs,
      ...(requestHeaders ? { headers: requestHeaders } : {}),
    });
    const code = msg.headers?.get("Nats-Service-Error-Code");
    return { kind: "reply", status: code ? Number(code) : 200, body: msg.string() };
  } catch (error) {
    return classifyRequestError(error);
  }
}

export function classifyRequestError(error: unknown): Result {
  const chain: unknown[] = [];
  for (let cause = error; cause !== undefined && chain.length < 5; ) {
    chain.push(cause);
    cause = (cause as { cause?: unknown }).cause;
  }
  const names = chain.map((e) => (e as { name?: string }).name ?? "");
  const message = error instanceof Error ? error.message : String(error);
  if (names.includes("NoResponders") || /no responders/i.test(message)) {
    return { kind: "no-responders" };
  }
  if (names.includes("TimeoutError")) return { kind: "timeout" };
  return { kind: "error", message: `${names.join("<")}: ${message}` };
}

// ---------------------------------------------------------------------------------------------
// Checking the ledger against Redis afterwards.

export interface Verdict {
  /** Requests with no answer of any kind (timeouts): must be 0. */
  readonly lost: number;
  /** Effects applied more than once (an increment counted twice): must be 0. */
  readonly doubleApplied: number;
  /** Successful writes Redis does not have: must be 0. */
  readonly missingWrites: number;
  /** Reads that returned a value older than a write the reader had seen succeed: must be 0. */
  readonly staleReads: number;
  /** Failed requests that Redis shows were applied anyway (504s whose command ran): allowed. */
  readonly appliedDespiteFailure: number;
  /** Human-readable details of every violation, for the assertion message. */
  readonly problems: string[];
}

async function mget(redis: Redis, keys: readonly string[]): Promise<(string | null)[]> {
  const values: (string | null)[] = [];
  for (let start = 0; start < keys.length; start += 1000) {
    const chunk = keys.slice(start, start + 1000);
    if (chunk.length > 0) values.push(...(await redis.mget(...chunk)));
  }
  return values;
}

/** Compares the ledger with what Redis holds now. */
export async function verify(ledger: Ledger, redis: Redis): Promise<Verdict> {
  const problems: string[] = [];
  let doubleApplied = 0;
  let missingWrites = 0;
  let staleReads = 0;
  let appliedDespiteFailure = 0;

  const lost = ledger.where((entry) => entry.result?.kind === "timeout").length;
  if (lost > 0) problems.push(`${lost} request(s) got no reply`);

  // incr-once: exactly-once accounting per request.
  const once = ledger.where((entry) => entry.operation === "incr-once");
  const onceValues = await mget(
    redis,
    once.map((entry) => entry.key),
  );
  once.forEach((entry, index) => {
    const value = Number(onceValues[index] ?? 0);
    if (value > 1) {
      doubleApplied += value - 1;
      problems.push(`${entry.key}: applied ${value} times (${kindOf(entry.result)})`);
    }
    if (isSuccess(entry) && value === 0) {
      missingWrites++;
      problems.push(`${entry.key}: success but not in Redis`);
    }
    if (!isSuccess(entry) && value >= 1) {
      if (mayHaveApplied(entry)) appliedDespiteFailure++;
      else problems.push(`${entry.key}: applied although answered ${kindOf(entry.result)}`);
    }
  });

  // Shared counters: successes <= value <= successes + ambiguous failures.
  const counters = new Map<string, Entry[]>();
  for (const entry of ledger.where((e) => e.operation === "counter")) {
    const list = counters.get(entry.key) ?? [];
    list.push(entry);
    counters.set(entry.key, list);
  }
  const counterKeys = [...counters.keys()];
  const counterValues = await mget(redis, counterKeys);
  counterKeys.forEach((key, index) => {
    const entries = counters.get(key) ?? [];
    const value = Number(counterValues[index] ?? 0);
    const successes = entries.filter(isSuccess).length;
    const maybe = entries.filter((e) => !isSuccess(e) && mayHaveApplied(e)).length;
    if (value < successes) {
      missingWrites += successes - value;
      problems.push(`${key}: ${value} < ${successes} successful increments`);
    }
    if (value > successes + maybe) {
      doubleApplied += value - successes - maybe;
      problems.push(`${key}: ${value} > ${successes} successes + ${maybe} ambiguous failures`);
    }
    appliedDespiteFailure += Math.max(0, Math.min(value, successes + maybe) - successes);
  });

  // Lane keys: the final value is the last successful create or a later ambiguous one.
  const lanes = new Map<string, Entry[]>();
  for (const entry of ledger.where((e) => e.operation === "create")) {
    const list = lanes.get(entry.key) ?? [];
    list.push(entry);
    lanes.set(entry.key, list);
  }
  const laneKeys = [...lanes.keys()];
  const laneValues = await mget(redis, laneKeys);
  laneKeys.forEach((key, index) => {
    const creates = lanes.get(key) ?? [];
    const raw = laneValues[index];
    const finalSeq =
      raw === null || raw === undefined ? undefined : (JSON.parse(raw).seq as number);
    const good = creates.filter(isSuccess);
    const lastGood = good.at(-1)?.seq;
    const allowed = new Set<number | undefined>([lastGood]);
    for (const entry of creates) {
      if ((entry.seq ?? 0) > (lastGood ?? 0) && !isSuccess(entry) && mayHaveApplied(entry)) {
        allowed.add(entry.seq);
      }
    }
    if (!allowed.has(finalSeq)) {
      missingWrites++;
      problems.push(
        `${key}: holds seq ${finalSeq}, expected ${[...allowed].join(" or ")} (last success ${lastGood})`,
      );
    }
  });

  // Reads never go back in time past a success the lane had already seen.
  for (const entry of ledger.where((e) => e.operation === "get" && isSuccess(e))) {
    const body = entry.result?.kind === "reply" ? entry.result.body : "";
    const seq = body === "" ? undefined : (JSON.parse(body).data?.seq as number | undefined);
    if (entry.minSeq !== undefined && (seq === undefined || seq < entry.minSeq)) {
      staleReads++;
      problems.push(`${entry.key}: read seq ${seq} after seq ${entry.minSeq} had succeeded`);
    }
  }

  return {
    lost,
    doubleApplied,
    missingWrites,
    staleReads,
    appliedDespiteFailure,
    problems: problems.slice(0, 50),
  };
}

/**
 * Sends through the durable intake (JetStream, `<prefix>.durable.<binding>`)
 * with the project's own helper; a fresh Nats-Msg-Id per request.
 */
export function durableSender(
  nc: NatsConnection,
  subject: string,
  timeoutMs: number,
  request: (
    nc: NatsConnection,
    subject: string,
    payload: string,
    options: { timeoutMs: number },
  ) => Promise<{ headers?: { get(name: string): string } | undefined; string(): string }>,
): Sender {
  return async (body) => {
    try {
      const msg = await request(nc, subject, JSON.stringify(body), { timeoutMs });
      const code = msg.headers?.get("Nats-Service-Error-Code");
      return { kind: "reply", status: code ? Number(code) : 200, body: msg.string() };
    } catch (error) {
      if ((error as Error).name === "DurableRequestTimeoutError") return { kind: "timeout" };
      return classifyRequestError(error);
    }
  };
}
