import { DEPLOYMENT_LABEL, POD_PHASE, SEER_API_VERSION, TEMPLATE_HASH_LABEL } from '../../../../api/names.js';
import type {
  PodPhase,
  PodTemplate,
  SeerDeployment,
  SeerDeploymentSpec,
  SeerPod,
} from '../../../../api/types.js';
import { templateHash } from '../../../../workloads/template-hash.js';

export const T0 = Date.parse('2026-03-01T12:00:00Z');

/** A minimal template whose package version tells templates apart. */
export function template(version = 'v1'): PodTemplate {
  return {
    metadata: { labels: { app: 'web' } },
    spec: { containers: [{ name: 'web', package: `file:///packages/web-${version}.tar.gz` }] },
  };
}

export function deployment(spec: Partial<SeerDeploymentSpec> = {}, name = 'web'): SeerDeployment {
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerDeployment',
    metadata: {
      name,
      namespace: 'default',
      uid: `uid-${name}`,
      generation: 1,
      creationTimestamp: new Date(T0 - 3_600_000),
    },
    spec: { replicas: 3, template: template(), ...spec },
  };
}

export interface PodOptions {
  hash?: string;
  /** Seconds after T0 the pod was created. */
  createdAt?: number;
  /** Seconds after T0 it became ready; absent: not ready. */
  readyAt?: number;
  node?: string | null;
  phase?: PodPhase;
  /** Seconds after T0 its deletion was asked for. */
  deletedAt?: number;
  deployment?: string;
}

let counter = 0;

export function pod(options: PodOptions = {}): SeerPod {
  const hash = options.hash ?? templateHash(template());
  const name = `${options.deployment ?? 'web'}-${hash}-${String(counter++).padStart(5, '0')}`;
  const at = (seconds: number) => new Date(T0 + seconds * 1000);
  return {
    apiVersion: SEER_API_VERSION,
    kind: 'SeerPod',
    metadata: {
      name,
      namespace: 'default',
      labels: { app: 'web', [DEPLOYMENT_LABEL]: options.deployment ?? 'web', [TEMPLATE_HASH_LABEL]: hash },
      creationTimestamp: at(options.createdAt ?? -600),
      deletionTimestamp: options.deletedAt === undefined ? undefined : at(options.deletedAt),
    },
    spec: {
      containers: template().spec.containers,
      node_name: options.node === null ? undefined : (options.node ?? 'node-1'),
    },
    status: {
      phase: options.phase ?? (options.readyAt === undefined ? POD_PHASE.Pending : POD_PHASE.Running),
      conditions:
        options.readyAt === undefined
          ? [
              {
                type: 'Ready',
                status: 'False',
                last_transition_time: at(options.createdAt ?? -600).toISOString(),
              },
            ]
          : [{ type: 'Ready', status: 'True', last_transition_time: at(options.readyAt).toISOString() }],
    },
  };
}

/** `count` pods of the template, ready for ten minutes. */
export function readyPods(count: number, version = 'v1', extra: PodOptions = {}): SeerPod[] {
  return Array.from({ length: count }, () =>
    pod({ hash: templateHash(template(version)), createdAt: -900, readyAt: -600, ...extra }),
  );
}

export const at = (seconds: number) => new Date(T0 + seconds * 1000);
