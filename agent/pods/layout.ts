import path from 'node:path';
import type { Container } from '../../api/types.js';

/**
 * Where things live on a host (seed 000 §4.3):
 *   ${root}/pod/{pod}/container/{container}   a container's unpacked package (unless deployment_dir)
 *   ${root}/pod/{pod}/log/                    its processes' stdout and stderr
 *   ${root}/pod/{pod}/.seer/                  the agent's records for the pod
 *   ${root}/cache/                            the package cache
 */
export class HostLayout {
  constructor(readonly root: string) {}

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

  stateFile(pod: string, container: string): string {
    return path.join(this.recordDir(pod), `${container}.state.json`);
  }
}
