import { describe, expect, it } from "vitest";
import { toBindingError } from "../../src/redis/errors.js";
import { classifyFailure } from "../../src/redis/failure.js";
import { backoffMs, RetriesOutOfTime, withRetries } from "../../src/redis/retry.js";

describe("classifyFailure", () => {
  it("sees value conflicts", () => {
    for (const message of [
      "WRONGTYPE Operation against a key holding the wrong kind of value",
      "ERR value is not an integer or out of range",
      "ERR increment or decrement would overflow",
    ]) {
      expect(classifyFailure(new Error(message)).kind, message).toBe("conflict");
    }
  });

  it("knows which failures never reached Redis", () => {
    expect(
      classifyFailure(new Error("Stream isn't writeable and enableOfflineQueue options is false")),
    ).toEqual({
      kind: "unavailable",
      transient: true,
      notExecuted: true,
    });
    expect(classifyFailure(new Error("connect ECONNREFUSED 127.0.0.1:1")).notExecuted).toBe(true);
    expect(
      classifyFailure(new Error("LOADING Redis is loading the dataset in memory")).notExecuted,
    ).toBe(true);
    expect(classifyFailure(new Error("Connection is closed.")).notExecuted).toBe(false);
  });

  it("treats a command timeout as a timeout and auth errors as permanent", () => {
    expect(classifyFailure(new Error("Command timed out")).kind).toBe("timeout");
    expect(classifyFailure(new Error("NOPERM this user has no permissions")).transient).toBe(false);
    expect(classifyFailure(new Error("WRONGPASS invalid username-password pair")).kind).toBe(
      "other",
    );
  });
});

describe("toBindingError", () => {
  it("maps each kind to its PROTOCOL status", () => {
    expect(toBindingError(new Error("WRONGTYPE x"), "cache").status).toBe(409);
    expect(toBindingError(new Error("connect ECONNREFUSED"), "cache").status).toBe(503);
    expect(toBindingError(new Error("Command timed out"), "cache").status).toBe(504);
    const outOfTime = toBindingError(
      new RetriesOutOfTime(new Error("connect ECONNREFUSED")),
      "cache",
    );
    expect(outOfTime.status).toBe(504);
    expect(outOfTime.message).toBe(
      "binding cache: deadline passed while retrying: connect ECONNREFUSED",
    );
    const other = toBindingError(new Error("NOPERM no"), "cache");
    expect(other.status).toBe(500);
    expect(other.message).toBe("error invoking output binding cache: NOPERM no");
  });
});

describe("retry policy", () => {
  const policy = { maxRetries: 3, minBackoffMs: 8, maxBackoffMs: 512 };

  it("backs off between min and min * 2^n, capped at max", () => {
    for (let retry = 0; retry < 10; retry++) {
      for (let sample = 0; sample < 50; sample++) {
        const wait = backoffMs(policy, retry);
        expect(wait).toBeGreaterThanOrEqual(8);
        expect(wait).toBeLessThanOrEqual(Math.min(512, 8 + 8 * 2 ** retry));
      }
    }
    expect(backoffMs({ maxRetries: 3, minBackoffMs: 0, maxBackoffMs: 512 }, 2)).toBe(0);
  });

  it("retries a transient failure up to maxRetries times", async () => {
    let attempts = 0;
    await expect(
      withRetries({ maxRetries: 2, minBackoffMs: 0, maxBackoffMs: 0 }, true, async () => {
        attempts++;
        throw new Error("connect ECONNREFUSED");
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(attempts).toBe(3);
  });

  it("succeeds when a retry does", async () => {
    let attempts = 0;
    const result = await withRetries(
      { maxRetries: 2, minBackoffMs: 1, maxBackoffMs: 2 },
      true,
      async () => {
        attempts++;
        if (attempts < 2) throw new Error("Connection is closed.");
        return "ok";
      },
    );
    expect(result).toBe("ok");
  });

  it("never retries a permanent failure", async () => {
    let attempts = 0;
    await expect(
      withRetries(policy, true, async () => {
        attempts++;
        throw new Error("WRONGTYPE x");
      }),
    ).rejects.toThrow();
    expect(attempts).toBe(1);
  });

  it("retries a non-idempotent command only if it surely never ran", async () => {
    let attempts = 0;
    await expect(
      withRetries({ maxRetries: 3, minBackoffMs: 0, maxBackoffMs: 0 }, false, async () => {
        attempts++;
        throw new Error("Connection is closed.");
      }),
    ).rejects.toThrow();
    expect(attempts).toBe(1);
    attempts = 0;
    await expect(
      withRetries({ maxRetries: 3, minBackoffMs: 0, maxBackoffMs: 0 }, false, async () => {
        attempts++;
        throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      }),
    ).rejects.toThrow();
    expect(attempts).toBe(4);
  });
});
