/**
 * The requests every target receives: the seed's example object, over a
 * fixed key space, encoded once up front so the load generator spends its
 * time sending, not serialising.
 */
export type OperationMix = "create" | "get" | "mix";

export const KEY_COUNT = 10_000;
const SEED_VALUE = { Hello: "World", Lorem: "Ipsum" };

export interface Workload {
  /** The i-th request payload (cycled). */
  payload(i: number): Uint8Array;
}

function encoded(operation: string, key: number): Uint8Array {
  const body =
    operation === "create"
      ? { operation, metadata: { key: `bench:${key}` }, data: SEED_VALUE }
      : { operation, metadata: { key: `bench:${key}` } };
  return new TextEncoder().encode(JSON.stringify(body));
}

export function workload(mix: OperationMix): Workload {
  const creates = Array.from({ length: KEY_COUNT }, (_, key) => encoded("create", key));
  const gets = Array.from({ length: KEY_COUNT }, (_, key) => encoded("get", key));
  return {
    payload(i: number): Uint8Array {
      const key = i % KEY_COUNT;
      const pick = mix === "create" ? creates : mix === "get" ? gets : i % 2 === 0 ? creates : gets;
      return pick[key] as Uint8Array;
    },
  };
}
