import type { MetricSpec } from '../metric-table.js';

/**
 * microstat_workload_info: one series per workload, value 1, carrying the
 * descriptive labels so that value series can stay narrow (join on `id`).
 * Allow-listed engine labels become `label_<key>`, sanitised.
 */
export function infoMetrics(labelAllowlist: readonly string[]): MetricSpec[] {
  const extra = labelAllowlist.map(
    (key) => [key, `label_${sanitize(key)}`] as const,
  );
  return [
    {
      name: 'microstat_workload_info',
      help: 'Workload metadata; value is always 1.',
      type: 'gauge',
      labelNames: [
        'id',
        'name',
        'kind',
        'runtime',
        'engine',
        'image',
        'hypervisor',
        'compose_project',
        'compose_service',
        'containerd_namespace',
        'pod',
        'pod_namespace',
        'container',
        ...extra.map(([, label]) => label),
      ],
      *samples(snapshot) {
        for (const { workload: w } of snapshot.workloads) {
          const labels: Record<string, string> = {
            id: w.id,
            name: w.name,
            kind: w.kind,
            runtime: w.runtime,
            engine: w.engine,
            image: w.image,
            hypervisor: w.hypervisor,
            compose_project: w.composeProject,
            compose_service: w.composeService,
            containerd_namespace: w.containerdNamespace ?? '',
            pod: w.pod?.name ?? '',
            pod_namespace: w.pod?.namespace ?? '',
            container: w.pod?.container ?? '',
          };
          for (const [key, label] of extra) labels[label] = w.labels[key] ?? '';
          yield [labels, 1];
        }
      },
    },
  ];
}

/** A Prometheus label name from an arbitrary label key. */
export function sanitize(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, '_');
}
