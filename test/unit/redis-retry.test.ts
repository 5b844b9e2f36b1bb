import { describe, expect, it, vi } from "vitest";
import { classifyFailure } from "../../src/redis/failure.js";
import { withRetries } from "../../src/redis/retry.js";

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
