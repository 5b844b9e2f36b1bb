/**
 * TEST ONLY. Fault injection for the durable intake's crash tests; never set
 * these in production.
 *
 * `RBW_TEST_CRASH_AFTER_APPLY=1`: the worker kills itself (SIGKILL, no
 * cleanup, no flush) right after Redis applied a durable request and before
 * it replies or acknowledges: the worst moment for exactly-once, which the
 * tests must see survive. Read once at start-up; only the durable intake
 * honours it.
 */
export interface TestHooks {
  readonly crashAfterApply: boolean;
}

export function testHooksFromEnv(env: NodeJS.ProcessEnv = process.env): TestHooks {
  return Object.freeze({ crashAfterApply: env.RBW_TEST_CRASH_AFTER_APPLY === "1" });
}

export function crashNow(): never {
  process.kill(process.pid, "SIGKILL");
  // SIGKILL is not delivered synchronously everywhere; never carry on meanwhile.
  process.exit(137);
}
