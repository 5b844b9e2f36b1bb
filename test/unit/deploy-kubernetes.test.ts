import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadComponents } from "../../src/config/components.js";
import { parseDurationOrMs } from "../../src/config/duration.js";
import { loadRuntimeSettings } from "../../src/config/runtime.js";
import { consumerName, streamName } from "../../src/transport/durable/names.js";

/**
 * deploy/kubernetes parsed and checked for what breaks a rollout quietly: a
 * probe on the wrong path, a drain cut short by SIGKILL, a root container,
 * env the worker does not understand, a components file the worker refuses.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIR = join(ROOT, "deploy/kubernetes");

// Only the fields the checks read; the manifests are plain YAML objects.
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

interface Probe {
  httpGet?: { path: string; port: string | number };
}

interface Container {
  name: string;
  image: string;
  ports: { name: string; containerPort: number }[];
  env: EnvVar[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts: { name: string; mountPath: string }[];
}

interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number };
  containers: Container[];
  volumes: { name: string; configMap?: { name: string } }[];
}

function readManifests(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(join(DIR, file), "utf8")).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS() as Manifest;
  });
}

const files = readdirSync(DIR).filter((name) => name.endsWith(".yaml"));
const byFile = new Map(files.map((file) => [file, readManifests(file)]));
const all = [...byFile.values()].flat();

function one(kind: string): Manifest {
  const found = all.filter((manifest) => manifest.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as Manifest;
}

const deployment = one("Deployment");
const podTemplate = (deployment.spec?.template ?? {}) as {
  metadata: { labels: Record<string, string> };
  spec: PodSpec;
};
const pod = podTemplate.spec;
const worker = pod.containers[0] as Container;
const env = new Map(worker.env.map((variable) => [variable.name, variable]));

function matches(selector: unknown): boolean {
  const labels = (selector as { matchLabels?: Record<string, string> }).matchLabels ?? {};
  return Object.entries(labels).every(([key, value]) => podTemplate.metadata.labels[key] === value);
}

function targetName(manifest: Manifest): string | undefined {
  return (manifest.spec?.scaleTargetRef as { name?: string } | undefined)?.name;
}

describe("deploy/kubernetes", () => {
  it("parses, and the kustomization names files that exist", () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
    const kustomization = one("Kustomization") as Manifest & { resources?: string[] };
    for (const resource of kustomization.resources ?? []) expect(files).toContain(resource);
    for (const manifest of all) {
      if (manifest.kind !== "Kustomization") {
        expect(manifest.metadata?.name, manifest.kind).toBeTruthy();
      }
    }
  });

  it("probes the worker's own endpoints on its HTTP port", () => {
    const http = worker.ports.find((port) => port.name === "http");
    expect(http?.containerPort).toBe(Number(env.get("HTTP_PORT")?.value));
    expect(worker.livenessProbe?.httpGet).toEqual({ path: "/livez", port: "http" });
    expect(worker.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(worker.startupProbe?.httpGet?.path).toBe("/livez");
  });

  it("runs as the image's non-root user with nothing it does not need", () => {
    const dockerUser = /^USER (\d+):(\d+)$/m.exec(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).toBe(Number(dockerUser?.[1]));
    expect(pod.securityContext?.runAsGroup).toBe(Number(dockerUser?.[2]));
    expect(worker.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
  });

  it("asks for resources, and keeps V8's heap under the memory limit", () => {
    expect(worker.resources?.requests?.cpu).toBeTruthy();
    expect(worker.resources?.requests?.memory).toBeTruthy();
    const limit = /^(\d+)Mi$/.exec(worker.resources?.limits?.memory ?? "");
    expect(limit).not.toBeNull();
    const heap = /--max-old-space-size=(\d+)/.exec(env.get("NODE_OPTIONS")?.value ?? "");
    expect(Number(heap?.[1])).toBeLessThan(Number(limit?.[1]));
  });

  it("gives the environment the worker needs, in forms it accepts", () => {
    for (const name of ["NATS_URL", "COMPONENTS_PATH", "HTTP_PORT", "SHUTDOWN_GRACE"]) {
      expect(env.get(name)?.value, name).toBeTruthy();
    }
    const plain = Object.fromEntries(
      worker.env.flatMap((variable) =>
        variable.value !== undefined ? [[variable.name, variable.value]] : [],
      ),
    );
    // The worker's own parser: a value it would refuse at start-up fails here.
    const runtime = loadRuntimeSettings(plain);
    expect(runtime.httpPort).toBe(8080);
    const mount = worker.volumeMounts.find((volume) => volume.mountPath === runtime.componentsPath);
    const volume = pod.volumes.find((candidate) => candidate.name === mount?.name);
    expect(volume?.configMap?.name).toBe(one("ConfigMap").metadata.name);
  });

  it("refers in $(VAR) only to variables defined before (Kubernetes expands no others)", () => {
    const defined = new Set<string>();
    const references: string[] = [];
    for (const variable of worker.env) {
      for (const [, name] of (variable.value ?? "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        references.push(name ?? "");
        expect(defined.has(name ?? ""), `${variable.name} uses $(${name})`).toBe(true);
      }
      defined.add(variable.name);
    }
    expect(references).toContain("POD_NAME");
  });

  it("lets the drain finish before Kubernetes kills the pod", () => {
    const graceMs = parseDurationOrMs(env.get("SHUTDOWN_GRACE")?.value ?? "");
    const terminationMs = (pod.terminationGracePeriodSeconds ?? 30) * 1000;
    // Closing Redis and NATS after the last reply takes a moment too.
    expect(terminationMs).toBeGreaterThanOrEqual(graceMs + 10_000);
  });

  it("takes secrets from the Secret the example defines", () => {
    const secret = one("Secret");
    for (const variable of worker.env) {
      const ref = variable.valueFrom?.secretKeyRef;
      if (ref === undefined) continue;
      expect(ref.name).toBe(secret.metadata.name);
      expect(Object.keys(secret.stringData ?? {})).toContain(ref.key);
    }
  });

  it("ships component files the worker loads", async () => {
    const configMap = one("ConfigMap");
    const dir = await mkdtemp(join(tmpdir(), "rbw-k8s-components-"));
    try {
      for (const [name, text] of Object.entries(configMap.data ?? {})) {
        await writeFile(join(dir, name), text);
      }
      // As in the pod: the Secret's REDIS_PASSWORD is in the environment.
      const loaded = await loadComponents(dir, { REDIS_PASSWORD: "from-the-secret" });
      expect(loaded.bindings.map((binding) => binding.name)).toEqual(["cache"]);
      expect(loaded.bindings[0]?.redisPassword).toBe("from-the-secret");
      expect(loaded.warnings).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("selects the worker's pods from the PodDisruptionBudget and the Service", () => {
    expect(matches(deployment.spec?.selector)).toBe(true);
    const pdb = one("PodDisruptionBudget");
    expect(matches(pdb.spec?.selector)).toBe(true);
    expect(pdb.spec?.maxUnavailable ?? pdb.spec?.minAvailable).toBeDefined();
    const service = one("Service");
    expect(matches({ matchLabels: service.spec?.selector })).toBe(true);
  });

  it("scales the Deployment on the durable intake's consumer lag (KEDA) or CPU (HPA)", () => {
    const scaled = one("ScaledObject");
    expect(targetName(scaled)).toBe(deployment.metadata.name);
    const triggers = (scaled.spec?.triggers ?? []) as {
      type: string;
      metadata: Record<string, string>;
    }[];
    const lag = triggers.find((trigger) => trigger.type === "nats-jetstream");
    // The names the durable intake really uses for the default prefix and the `cache` binding.
    expect(lag?.metadata.stream).toBe(streamName("bindings"));
    expect(lag?.metadata.consumer).toBe(consumerName("cache"));
    expect(Number(lag?.metadata.lagThreshold)).toBeGreaterThan(0);
    expect(triggers.some((trigger) => trigger.type === "cpu")).toBe(true);
    expect(scaled.spec?.minReplicaCount).toBeGreaterThanOrEqual(2);

    const hpa = one("HorizontalPodAutoscaler");
    expect(targetName(hpa)).toBe(deployment.metadata.name);
    // CPU utilisation targets need CPU requests.
    expect(worker.resources?.requests?.cpu).toBeTruthy();
  });
});
