import { describe, expect, it } from "vitest";
import { WORKER_ERRORS } from "../../src/client/errors.js";
import * as client from "../../src/client/index.js";
import * as worker from "../../src/errors.js";

/**
 * The client's error classes are copies of the worker's (the client must not
 * load worker code); this keeps the two catalogues from drifting apart.
 */
describe("client error catalogue", () => {
  // Every exported subclass of the worker's BindingError; each accepts (string, string).
  type WorkerErrorClass = new (first: string, second: string) => worker.BindingError;
  const workerClasses = Object.values(worker as Record<string, unknown>).filter(
    (value) =>
      typeof value === "function" &&
      (value as { prototype: unknown }).prototype instanceof worker.BindingError,
  ) as WorkerErrorClass[];

  const exported = new Map<string, unknown>(Object.entries(client));

  it("has one class per worker error, with the same name, code, status and retryable", () => {
    expect(workerClasses.length).toBeGreaterThanOrEqual(8);
    for (const WorkerClass of workerClasses) {
      const sample = new (
        WorkerClass as unknown as new (
          a: string,
          b: string,
        ) => worker.BindingError
      )("cache", "sample");
      const ClientClass = WORKER_ERRORS[sample.code];
      expect(ClientClass, sample.code).toBeDefined();
      if (ClientClass === undefined) continue;
      const mirrored = new ClientClass("sample", { binding: "cache" });
      expect(mirrored.name).toBe(sample.name);
      expect(mirrored.status).toBe(sample.status);
      expect(mirrored.retryable).toBe(sample.retryable);
      // Exported from the client's entry point under the same name.
      expect(exported.get(mirrored.name)).toBe(ClientClass);
    }
  });

  it("describes failures on the way to a worker as retryable", () => {
    for (const ClientClass of [client.NoRespondersError, client.ReplyTimeoutError]) {
      const error = new ClientClass("sample", { binding: "cache" });
      expect(error).toBeInstanceOf(client.BindingError);
      expect(error.retryable).toBe(true);
      expect(error.code).toMatch(/^ERR_/);
    }
  });
});
