import type { RedisBindingSettings } from "../config/settings.js";
import { ClusterTopology } from "./cluster-topology.js";
import { clusterOptions, nodeOptions, sentinelOptions } from "./connection-options.js";
import { NodePool } from "./node-pool.js";
import type { Topology } from "./topology.js";

/**
 * The topology a binding's settings ask for. `failover` wins over
 * `redisType`, as in Dapr: Sentinel names the master, whatever it is.
 */
export function createTopology(settings: RedisBindingSettings): Topology {
  if (settings.failover) {
    return new NodePool("sentinel", sentinelOptions(settings), settings.poolSize);
  }
  if (settings.redisType === "cluster") {
    return new ClusterTopology(settings.addresses, clusterOptions(settings));
  }
  const first = settings.addresses[0];
  if (first === undefined) throw new Error(`binding ${settings.name} has no Redis address`);
  return new NodePool("node", nodeOptions(settings, first), settings.poolSize);
}
