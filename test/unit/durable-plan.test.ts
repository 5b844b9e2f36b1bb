import { describe, expect, it } from "vitest";
import {
  BindingTimeoutError,
  BindingUnavailableError,
  InvalidRequestError,
  InvokeOutputBindingError,
  PayloadTooLargeError,
  ValueConflictError,
} from "../../src/errors.js";
import {
  consumerName,
  isPublishableSubject,
  streamName,
} from "../../src/transport/durable/names.js";
import { decide, deliveryPlan } from "../../src/transport/durable/plan.js";

const seed = { processingTimeoutMs: 15_000, redeliverIntervalMs: 60_000, maxDeliveries: 5 };

describe("delivery plan", () => {
  it("maps processingTimeout to the ack wait and maxDeliveries to max_deliver", () => {
    const plan = deliveryPlan(seed, 10_000);
    expect(plan).toMatchObject({
      redelivery: true,
      ackWaitMs: 15_000,
      redeliverIntervalMs: 60_000,
      maxDeliver: 5,
    });
    // Records outlive every delivery a request can still get: 5 x (15 + 60 + 10) s, twice.
    expect(plan.recordTtlMs).toBe(2 * 5 * 85_000);
  });

  it('turns redelivery off when either setting is "0", keeping records for ten minutes at least', () => {
    for (const settings of [
      { ...seed, redeliverIntervalMs: 0 },
      { ...seed, processingTimeoutMs: 0 },
    ]) {
      const plan = deliveryPlan(settings, 1_000);
      expect(plan.redelivery).toBe(false);
      expect(plan.maxDeliver).toBe(1);
      expect(plan.ackWaitMs).toBeGreaterThan(0);
      expect(plan.recordTtlMs).toBe(600_000);
    }
  });
});

describe("what a worker does with a result", () => {
  const plan = deliveryPlan({ ...seed, redeliverIntervalMs: 2_000 }, 10_000);

  it("acks a success", () => {
    expect(decide(undefined, 1, plan)).toEqual({ action: "ack" });
  });

  it.each([
    new InvalidRequestError("bad"),
    new ValueConflictError("WRONGTYPE"),
    new PayloadTooLargeError("big"),
    new InvokeOutputBindingError("cache", new Error("NOPERM")),
  ])("terminates a failure that cannot pass (%s) at once", (error) => {
    expect(decide(error, 1, plan)).toEqual({ action: "term" });
  });

  it.each([new BindingUnavailableError("down"), new BindingTimeoutError("slow")])(
    "delivers a failure that may pass (%s) again after redeliverInterval",
    (error) => {
      expect(decide(error, 1, plan)).toEqual({ action: "retry", delayMs: 2_000 });
      expect(decide(error, 4, plan)).toEqual({ action: "retry", delayMs: 2_000 });
      expect(decide(error, 5, plan)).toEqual({ action: "dead-letter" });
    },
  );

  it("dead-letters a failure that may pass when redelivery is off", () => {
    const once = deliveryPlan({ ...seed, redeliverIntervalMs: 0 }, 10_000);
    expect(decide(new BindingUnavailableError("down"), 1, once)).toEqual({
      action: "dead-letter",
    });
  });
});

describe("durable names", () => {
  it("derives JetStream names that the server accepts", () => {
    expect(streamName("bindings")).toBe("rbw-durable-bindings");
    expect(streamName("svc.bindings")).toBe("rbw-durable-svc_bindings");
    expect(consumerName("cache")).toBe("cache");
    expect(consumerName("a/b")).toBe("a%2fb");
    expect(consumerName("a%2fb")).toBe("a%252fb");
  });

  it("accepts only plain subjects as reply subjects", () => {
    expect(isPublishableSubject("_INBOX.abc.1")).toBe(true);
    expect(isPublishableSubject("_INBOX.*")).toBe(false);
    expect(isPublishableSubject("a.>")).toBe(false);
    expect(isPublishableSubject("a..b")).toBe(false);
    expect(isPublishableSubject("a b")).toBe(false);
    expect(isPublishableSubject("")).toBe(false);
  });
});
