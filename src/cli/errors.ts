/**
 * Exit codes every command shares, so a shell script can tell "fix the
 * command line" from "the binding said no" from "nobody answered".
 */
export const EXIT = Object.freeze({
  ok: 0,
  /** The worker answered with an error, or a check failed. */
  failed: 1,
  /** Bad command line or settings. */
  usage: 2,
  /** No answer: NATS unreachable, no worker serving, or the timeout passed. */
  unreachable: 3,
});

/** A failure a command reports as one line on stderr and an exit code, without a stack. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export function usageError(message: string): CliError {
  return new CliError(`${message} (see --help)`, EXIT.usage);
}
