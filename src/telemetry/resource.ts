import { hostname } from "node:os";
import {
  defaultResource,
  detectResources,
  type Resource,
  resourceAttributesEnvDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
  serviceNameEnvDetector,
} from "@opentelemetry/resources";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { VERSION } from "../version.js";

export const DEFAULT_SERVICE_NAME = "redis-binding-worker";

/**
 * Who is reporting, the same for traces and metrics. Later sources win, as
 * the OpenTelemetry spec orders them: our defaults, a random
 * `service.instance.id` (tells the workers of one deployment apart),
 * OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME. Every detector here is
 * synchronous, so the attributes are final at once (Prometheus's target_info
 * reads them straight away).
 */
export function workerResource(): Resource {
  return defaultResource()
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: DEFAULT_SERVICE_NAME,
        [ATTR_SERVICE_VERSION]: VERSION,
        "host.name": hostname(),
      }),
    )
    .merge(
      detectResources({
        detectors: [
          serviceInstanceIdDetector,
          resourceAttributesEnvDetector,
          serviceNameEnvDetector,
        ],
      }),
    );
}
