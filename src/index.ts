export type { Invocation, Operation } from "./binding/invocation.js";
export { OPERATIONS } from "./binding/invocation.js";
export * from "./errors.js";
export { Worker, type WorkerOptions, type WorkerState } from "./worker.js";
