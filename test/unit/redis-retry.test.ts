import { afterEach, describe, expect, it, vi } from "vitest";
import type { Invocation } from "../../src/binding/invocation.js";
import { execute } from "../../src/binding/operations.js";
import { BindingTimeoutError, BindingUnavailableError } from "../../src/errors.js";
import { classifyFailure } from "../../src/redis/failure.js";
import { IdempotentExecutor } from "../../src/redis/idempotent.js";
import { IoredisPort } from "../../src/redis/port.js";
import {
  type AttemptObserver,
  RetriesOutOfTime,
  type RetryPolicy,
  withRetries,
} from "../../src/redis/retry.js";
import type { ScriptedClient } from "../../src/redis/scripts.js";

describe("failures ioredis reports while topologies change", () => {
  it("a batch aborted with its connection may have run: unavailable, not surely unexecuted", () => {
    expect(classifyFailure(new Error("Command aborted due to connection close"))).toEqual({
      kind: "unavailable",
      transient: true,
      notExecuted: false,
    });
  });

  it("a cluster without its slot map never sent the command", () => {
    expect(
      classifyFailure(new Error("Cluster isn't ready and enableOfflineQueue options is false")),
    ).toEqual({ kind: "unavailable", transient: true, notExecuted: true });
  });
});

describe("go-redis retry semantics", () => {
  it("waits min + rand[0, min * 2^n) before retry n, counting the first retry as 1", async () => {
    const random = vi.spyOn(Math, "random").mockReturnValue(0.999);
    const waits: number[] = [];
    try {
      let sent = 0;
      await expect(
        withRetries(
          { maxRetries: 3, minBackoffMs: 10, maxBackoffMs: 1000 },
          true,
          () => {
            sent++;
            return Promise.reject(new Error("connect ECONNREFUSED"));
          },
          {
            attempt: (_retry, run) => run(),
            retrying: (_retry, _error, waitMs) => waits.push(waitMs),
          },
        ),
      ).rejects.toThrow(/ECONNREFUSED/);
      expect(sent).toBe(4);
    } finally {
      random.mockRestore();
    }
    // The longest waits: 10 + 19, 10 + 39, 10 + 79 (go-redis with 8ms: 8-24ms first).
    expect(waits).toEqual([29, 49, 89]);
  });

  it("never retries an INCR that may have run, and retries one that surely did not", async () => {
    const policy = { maxRetries: 5, minBackoffMs: 0, maxBackoffMs: 0 };
    let sent = 0;
    await expect(
      withRetries(policy, false, () => {
        sent++;
        return Promise.reject(new Error("Connection is closed."));
      }),
    ).rejects.toThrow(/closed/);
    expect(sent).toBe(1);
    sent = 0;
    const value = await withRetries(policy, false, () => {
      sent++;
      return sent < 3
        ? Promise.reject(
            new Error("Stream isn't writeable and enableOfflineQueue options is false"),
          )
        : Promise.resolve(7);
    });
    expect([value, sent]).toEqual([7, 3]);
  });

  it("never retries what cannot pass: NOPERM, WRONGPASS, WRONGTYPE, timeouts", async () => {
    for (const message of [
      "NOPERM this user has no permissions",
      "WRONGPASS invalid username-password pair",
      "WRONGTYPE Operation against a key holding the wrong kind of value",
      "Command timed out",
    ]) {
      let sent = 0;
      await expect(
        withRetries({ maxRetries: 3, minBackoffMs: 0, maxBackoffMs: 0 }, true, () => {
          sent++;
          return Promise.reject(new Error(message));
        }),
      ).rejects.toThrow(message);
      expect(sent, message).toBe(1);
    }
  });
});

/** What ioredis throws for a command it never sent (offline queue off, no connection). */
const NOT_SENT = "Stream isn't writeable and enableOfflineQueue options is false";

describe("retries end at the request's deadline", () => {
  /** A fake performance.now(): the retry loop reads its deadline against it. */
  let now = 0;

  afterEach(() => {
    vi.restoreAllMocks();
  });

  const fakeClock = (start: number) => {
    now = start;
    vi.spyOn(performance, "now").mockImplementation(() => now);
  };

  /** Counts attempts and the retries the loop announced (it announces each before waiting). */
  const counting = () => {
    const seen = { sent: 0, retried: 0 };
    const observer: AttemptObserver = {
      attempt: (_retry, run) => run(),
      retrying: () => {
        seen.retried++;
      },
    };
    return { seen, observer };
  };

  it("starts no retry once the deadline has passed: a timeout naming the last failure", async () => {
    fakeClock(1000);
    const { seen, observer } = counting();
    const failing = () => {
      seen.sent++;
      now += 100; // each attempt takes 100 ms of the budget
      return Promise.reject(new Error(`connect ECONNREFUSED (attempt ${seen.sent})`));
    };
    await expect(
      withRetries(
        { maxRetries: 10, minBackoffMs: 0, maxBackoffMs: 0 },
        true,
        failing,
        observer,
        1250,
      ),
    ).rejects.toThrow(new RetriesOutOfTime(new Error("connect ECONNREFUSED (attempt 3)")).message);
    // Attempts at 1000, 1100 and 1200; the third fails at 1300, past the deadline of 1250.
    expect(seen).toEqual({ sent: 3, retried: 2 });
  });

  it("starts no backoff that would end past the deadline: waits out the budget, then times out", async () => {
    fakeClock(0);
    let slept: (waitMs: number) => void = () => {};
    const sleeping = new Promise<string>((resolve) => {
      slept = (waitMs) => resolve(`went to sleep for ${waitMs} ms`);
    });
    let sent = 0;
    const outcome = await Promise.race([
      withRetries(
        { maxRetries: 3, minBackoffMs: 60_000, maxBackoffMs: 60_000 },
        true,
        () => {
          sent++;
          return Promise.reject(new Error(NOT_SENT));
        },
        // The loop announces a retry just before it sleeps.
        { attempt: (_retry, run) => run(), retrying: (_retry, _error, waitMs) => slept(waitMs) },
        // 200 ms left (the fake clock stands still): a 60 s backoff would end
        // long after the caller gave up, so the loop only waits out those 200 ms.
        200,
      ).catch((error: unknown) => error),
      sleeping,
    ]);
    expect(outcome).toBeInstanceOf(RetriesOutOfTime);
    expect((outcome as RetriesOutOfTime).lastFailure).toEqual(new Error(NOT_SENT));
    expect(sent).toBe(1);
  });

  it("a backoff ending exactly at the deadline is one too many", async () => {
    fakeClock(0);
    const { seen, observer } = counting();
    const failing = () => {
      seen.sent++;
      return Promise.reject(new Error(NOT_SENT));
    };
    // min = max: every wait is exactly 1 ms.
    const policy = { maxRetries: 3, minBackoffMs: 1, maxBackoffMs: 1 };
    await expect(withRetries(policy, true, failing, observer, 1)).rejects.toBeInstanceOf(
      RetriesOutOfTime,
    );
    expect(seen).toEqual({ sent: 1, retried: 0 });
  });

  it("retries as the policy says while each wait ends before the deadline", async () => {
    fakeClock(0);
    const { seen, observer } = counting();
    const failing = () => {
      seen.sent++;
      now += 10;
      return Promise.reject(new Error(NOT_SENT));
    };
    const policy = { maxRetries: 3, minBackoffMs: 1, maxBackoffMs: 1 };
    await expect(withRetries(policy, true, failing, observer, 1_000)).rejects.toThrow(NOT_SENT);
    expect(seen).toEqual({ sent: 4, retried: 3 });
  });

  it("without a deadline, only the policy bounds the retries (as before)", async () => {
    // A clock far along changes nothing when no deadline is given.
    fakeClock(1e12);
    const { seen, observer } = counting();
    const value = await withRetries(
      { maxRetries: 5, minBackoffMs: 0, maxBackoffMs: 0 },
      false,
      () => {
        seen.sent++;
        now += 1e6;
        return seen.sent < 6 ? Promise.reject(new Error(NOT_SENT)) : Promise.resolve("done");
      },
      observer,
    );
    expect([value, seen]).toEqual(["done", { sent: 6, retried: 5 }]);
  });
});

describe("the deadline reaches the retry loop from the port and the durable executor", () => {
  const policy: RetryPolicy = { maxRetries: 3, minBackoffMs: 0, maxBackoffMs: 0 };
  const invocation = (operation: Invocation["operation"], deleteAfterRead = false): Invocation => ({
    operation,
    key: "k",
    value: new Uint8Array([1]),
    ttlMs: undefined,
    deleteAfterRead,
  });

  /** A client whose every command fails before it is sent: always safe to retry. */
  function unreachableClient() {
    const calls: string[] = [];
    const fail = (name: string) => () => {
      calls.push(name);
      return Promise.reject(new Error(NOT_SENT));
    };
    const client = {
      set: fail("set"),
      getBuffer: fail("get"),
      getdelBuffer: fail("getdel"),
      del: fail("del"),
      incrExact: fail("incr"),
      incrWithTtl: fail("incr"),
      defineCommand: () => {},
      createOnceBuffer: fail("createOnce"),
      deleteOnceBuffer: fail("deleteOnce"),
      getDeleteOnceBuffer: fail("getDeleteOnce"),
      incrementOnceBuffer: fail("incrementOnce"),
    };
    return { calls, source: { pick: () => client as unknown as ScriptedClient } };
  }

  const operations = [
    invocation("create"),
    invocation("get"),
    invocation("get", true),
    invocation("delete"),
    invocation("increment"),
  ];

  it("plain requests: one attempt and a 504 when the deadline has passed, all retries without one", async () => {
    for (const request of operations) {
      const what = `${request.operation}${request.deleteAfterRead ? " (delete)" : ""}`;
      const { calls, source } = unreachableClient();
      const port = new IoredisPort("cache", source, policy);
      const passed = performance.now() - 1;
      await expect(execute(port, request, passed), what).rejects.toBeInstanceOf(
        BindingTimeoutError,
      );
      expect(calls.length, what).toBe(1);
      calls.length = 0;
      await expect(execute(port, request, undefined), what).rejects.toBeInstanceOf(
        BindingUnavailableError,
      );
      expect(calls.length, what).toBe(4);
    }
  });

  it("durable requests: the same, through the at-most-once executor", async () => {
    for (const request of operations) {
      const what = `${request.operation}${request.deleteAfterRead ? " (delete)" : ""}`;
      const { calls, source } = unreachableClient();
      const once = new IdempotentExecutor("cache", source, policy, 60_000);
      const passed = performance.now() - 1;
      await expect(once.execute(request, "id-1", passed), what).rejects.toBeInstanceOf(
        BindingTimeoutError,
      );
      expect(calls.length, what).toBe(1);
      calls.length = 0;
      await expect(once.execute(request, "id-1"), what).rejects.toBeInstanceOf(
        BindingUnavailableError,
      );
      expect(calls.length, what).toBe(4);
    }
  });
});
