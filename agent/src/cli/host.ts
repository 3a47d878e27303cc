import type { Config } from '../config.js';
import { CgroupResolver } from '../discover/cgroups.js';
import { ContainerdNames } from '../discover/containerd.js';
import { DockerDiscovery } from '../discover/docker.js';
import { KataDiscovery } from '../discover/kata.js';
import type { NameSource } from '../discover/names.js';
import type { WorkloadSource } from '../discover/source.js';
import { ProcFs } from '../host/procfs.js';
import type { Logger } from '../log.js';
import { Sampler } from '../sample/sampler.js';

/** The host-reading parts every command shares, wired from the config. */
export interface HostView {
  readonly procfs: ProcFs;
  readonly resolver: CgroupResolver;
  readonly sources: readonly WorkloadSource[];
  readonly sampler: Sampler;
  start(): void;
  /** Resolves when every source finished its first discovery attempt. */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

export function openHost(config: Config, log: Logger): HostView {
  const procfs = new ProcFs(config.procfs);
  const resolver = new CgroupResolver(procfs, config.cgroupfs);
  const sources: WorkloadSource[] = [];
  const names: NameSource[] = [];
  if (config.dockerEnabled) {
    const docker = new DockerDiscovery({
      host: config.dockerHost,
      resolver,
      labelAllowlist: config.dockerLabels,
      log: log.child({ collector: 'docker' }),
    });
    sources.push(docker);
    names.push(docker);
  }
  if (config.kataEnabled) {
    sources.push(
      new KataDiscovery({
        procfs,
        runDir: config.runDir,
        resolver,
        names,
        log: log.child({ collector: 'kata' }),
      }),
    );
    if (config.containerdEnabled) {
      const containerd = new ContainerdNames({
        address: config.containerdAddress,
        log: log.child({ collector: 'containerd' }),
      });
      sources.push(containerd);
      names.push(containerd);
    }
  }
  const sampler = new Sampler(procfs, sources, log, {
    maxWorkloads: config.maxWorkloads,
  });
  return {
    procfs,
    resolver,
    sources,
    sampler,
    start() {
      for (const s of sources) s.start();
    },
    async ready() {
      await Promise.all(sources.map((s) => s.ready()));
    },
    async stop() {
      await Promise.all(sources.map((s) => s.stop()));
      sampler.close();
    },
  };
}
