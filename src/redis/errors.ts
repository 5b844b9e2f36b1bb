import {
  type BindingError,
  BindingTimeoutError,
  BindingUnavailableError,
  InvokeOutputBindingError,
  ValueConflictError,
} from "../errors.js";
import { classifyFailure } from "./failure.js";
import { RetriesOutOfTime } from "./retry.js";

/** Turns what ioredis threw into the error the caller will see. */
export function toBindingError(error: unknown, bindingName: string): BindingError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof RetriesOutOfTime) {
    return new BindingTimeoutError(`binding ${bindingName}: ${message}`, { cause: error });
  }
  switch (classifyFailure(error).kind) {
    case "conflict":
      return new ValueConflictError(message, { cause: error });
    case "unavailable":
      return new BindingUnavailableError(
        `redis unavailable for binding ${bindingName}: ${message}`,
        {
          cause: error,
        },
      );
    case "timeout":
      return new BindingTimeoutError(`redis did not answer in time for binding ${bindingName}`, {
        cause: error,
      });
    case "other":
      return new InvokeOutputBindingError(bindingName, error);
  }
}
