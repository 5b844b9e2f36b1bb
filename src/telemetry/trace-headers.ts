import type { TextMapGetter } from "@opentelemetry/api";
import type { HeaderCarrier } from "./instrumentation.js";

/**
 * Reads W3C trace context (and baggage) from NATS headers for the globally
 * configured propagator. NATS header names are case-sensitive, but callers
 * differ: OpenTelemetry's JS propagator writes `traceparent`, while a Go
 * caller going through http.Header writes `Traceparent`. The exact name is
 * tried first (one map lookup, the usual case), then any spelling.
 */
export const HEADER_GETTER: TextMapGetter<HeaderCarrier> = {
  keys: (carrier) => carrier.keys(),
  get: (carrier, key) => {
    const exact = carrier.get(key);
    if (exact !== "") return exact;
    const wanted = key.toLowerCase();
    for (const name of carrier.keys()) {
      if (name.length === wanted.length && name.toLowerCase() === wanted) {
        return carrier.get(name) || undefined;
      }
    }
    return undefined;
  },
};
