/**
 * An invocation is a request that has passed validation: the operation is
 * known, the key is present, the TTL is a number of milliseconds. Operations
 * never see raw metadata strings.
 */
export const OPERATIONS = ["create", "get", "delete", "increment"] as const;

export type Operation = (typeof OPERATIONS)[number];

export interface Invocation {
  readonly operation: Operation;
  readonly key: string;
  /** The bytes to store (`create` only). */
  readonly value: Uint8Array | undefined;
  /** Expiry set atomically with the write (`create`, `increment`). */
  readonly ttlMs: number | undefined;
  /** `get` only: read and delete in one step. */
  readonly deleteAfterRead: boolean;
}

export function isOperation(name: string): name is Operation {
  return (OPERATIONS as readonly string[]).includes(name);
}
