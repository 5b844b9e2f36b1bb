import type {
  ConsumerCountsSource,
  DurableEvent,
  DurableObserver,
} from "../transport/durable/observer.js";
import type { WorkerMetrics } from "./metrics.js";

/**
 * Counts what the durable (JetStream) intake does with each delivery, through
 * the observer hook it already calls: deliveries by outcome, and
 * redeliveries, i.e. deliveries handled that were not a request's first.
 * Also reports the server's counts for each binding's consumer (pending,
 * awaiting acknowledgement, redelivered, waiting pulls), which the intake
 * keeps up to date.
 */
export class DurableMetrics implements DurableObserver {
  constructor(private readonly metrics: WorkerMetrics) {}

  deliveryHandled(event: DurableEvent): void {
    // "abandoned" reports a delivery nobody settled (its worker died), seen
    // through the server's advisory: not a delivery handled here.
    const redelivery = event.deliveryCount > 1 && event.action !== "abandoned";
    this.metrics.durableDelivery(event.binding, event.action, redelivery);
  }

  watchConsumers(source: ConsumerCountsSource): void {
    this.metrics.observeDurableConsumers(source);
  }
}
