import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { RuntimeClass } from 'kubernetes-models/node.k8s.io/v1';
import { Namespace, Pod, Service } from 'kubernetes-models/v1';

/**
 * Validates manifests against the Kubernetes OpenAPI schemas and the
 * prometheus-operator CRD schema, as compiled into kubernetes-models (ajv
 * standalone validators, no network). The schemas check types, required
 * fields, enums and patterns; like the API server's non-strict mode they
 * let unknown fields through.
 */

type Validate = (doc: unknown) => void;

const MODELS: Readonly<Record<string, Validate>> = {
  'v1/Namespace': (doc) => {
    new Namespace(doc as ConstructorParameters<typeof Namespace>[0]).validate();
  },
  'v1/Service': (doc) => {
    new Service(doc as ConstructorParameters<typeof Service>[0]).validate();
  },
  'v1/Pod': (doc) => {
    new Pod(doc as ConstructorParameters<typeof Pod>[0]).validate();
  },
  'apps/v1/DaemonSet': (doc) => {
    new DaemonSet(doc as ConstructorParameters<typeof DaemonSet>[0]).validate();
  },
  'node.k8s.io/v1/RuntimeClass': (doc) => {
    const data = doc as ConstructorParameters<typeof RuntimeClass>[0];
    new RuntimeClass(data).validate();
  },
  'monitoring.coreos.com/v1/PodMonitor': (doc) => {
    const data = doc as ConstructorParameters<typeof PodMonitor>[0];
    new PodMonitor(data).validate();
  },
};

/** `apiVersion/kind` of a parsed manifest, e.g. `apps/v1/DaemonSet`. */
export function manifestType(doc: unknown): string {
  if (typeof doc !== 'object' || doc === null) return '';
  const { apiVersion, kind } = doc as { apiVersion?: unknown; kind?: unknown };
  return `${String(apiVersion)}/${String(kind)}`;
}

/** Throws with the schema's complaint, or when the type is not known. */
export function validateManifest(doc: unknown): void {
  const type = manifestType(doc);
  const validate = MODELS[type];
  if (validate === undefined) throw new Error(`no schema for ${type}`);
  validate(doc);
}
