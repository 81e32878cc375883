import path from 'node:path';
import { DATA_ROOT_SUBDIR } from '../../api/names.js';
import type { Container } from '../../api/types.js';

/**
 * Where things live on a host (seed 000 §4.3):
 *   ${root}/pod/{pod}/container/{container}   a container's unpacked package (unless deployment_dir)
 *   ${root}/pod/{pod}/log/                    its processes' stdout and stderr
 *   ${root}/pod/{pod}/.seer/                  the agent's records for the pod
 *   ${root}/cache/                            the package cache
 *   ${data root}/{namespace}/{data dir}        data that outlives pods (default ${root}/data)
 */
export class HostLayout {
  /** `dataRoot` holds the data dirs, kept apart from pods (another filesystem, if it should be). */
  constructor(
    readonly root: string,
    readonly dataRoot = path.join(root, DATA_ROOT_SUBDIR),
  ) {}

  get podsDir(): string {
    return path.join(this.root, 'pod');
  }

  get cacheDir(): string {
    return path.join(this.root, 'cache');
  }

  podDir(pod: string): string {
    return path.join(this.podsDir, pod);
  }

  containerDir(pod: string, container: Pick<Container, 'name' | 'deployment_dir'>): string {
    return container.deployment_dir ?? path.join(this.podDir(pod), 'container', container.name);
  }

  logDir(pod: string): string {
    return path.join(this.podDir(pod), 'log');
  }

  recordDir(pod: string): string {
    return path.join(this.podDir(pod), '.seer');
  }

  recordFile(pod: string): string {
    return path.join(this.recordDir(pod), 'pod.json');
  }

  /** A SeerDataDir's directory: names are DNS subdomains, so neither part can climb out. */
  dataDir(namespace: string, name: string): string {
    return path.join(this.dataRoot, namespace, name);
  }

  stateFile(pod: string, container: string): string {
    return path.join(this.recordDir(pod), `${container}.state.json`);
  }
}
