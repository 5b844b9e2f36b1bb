import { describe, expect, it } from "vitest";
import { BindingTimeoutError, InvalidRequestError } from "../../src/errors.js";
import { requestBudgetMs, withDeadline } from "../../src/transport/deadline.js";
import { InFlightGate } from "../../src/transport/in-flight.js";

describe("InFlightGate", () => {
  it("refuses past its limit and admits again after a release", () => {
    const gate = new InFlightGate(2);
    expect(gate.tryAcquire()).toBe(true);
    expect(gate.tryAcquire()).toBe(true);
    expect(gate.tryAcquire()).toBe(false);
    gate.release();
    expect(gate.tryAcquire()).toBe(true);
    expect(gate.size).toBe(2);
  });

  it("tells when it is idle, or that the wait ran out", async () => {
    const gate = new InFlightGate(4);
    gate.tryAcquire();
    const idle = gate.idle(1000);
    setTimeout(() => gate.release(), 10);
    await expect(idle).resolves.toBe(true);
    gate.tryAcquire();
    await expect(gate.idle(10)).resolves.toBe(false);
  });
});

describe("request deadline", () => {
  it("lets Binding-Timeout shorten the budget, never lengthen it", () => {
    expect(requestBudgetMs(undefined, 10_000)).toBe(10_000);
    expect(requestBudgetMs("250", 10_000)).toBe(250);
    expect(requestBudgetMs("2s", 10_000)).toBe(2000);
    expect(requestBudgetMs("1m", 10_000)).toBe(10_000);
    expect(() => requestBudgetMs("soon", 10_000)).toThrow(InvalidRequestError);
    expect(() => requestBudgetMs("0", 10_000)).toThrow(InvalidRequestError);
  });

  it("rejects with 504 when the work outlives the budget", async () => {
    const slow = new Promise((resolve) => setTimeout(resolve, 200));
    await expect(withDeadline(slow, 10, "cache")).rejects.toBeInstanceOf(BindingTimeoutError);
    await expect(withDeadline(Promise.resolve(7), 1000, "cache")).resolves.toBe(7);
  });
});
