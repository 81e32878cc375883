import type { Container, PodSpec } from './types.js';

/** A pod's init containers (in their order) and then its containers: everything that has a package. */
export function everyContainer(spec: Pick<PodSpec, 'containers' | 'init_containers'>): Container[] {
  return [...(spec.init_containers ?? []), ...spec.containers];
}
