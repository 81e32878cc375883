import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RestClient } from '../kube/rest.js';

/** The kubeconfig a command uses, as kubectl picks it: the flag, then $KUBECONFIG, then ~/.kube/config. */
export function resolveKubeconfig(flag?: string): string {
  const candidates = [
    flag,
    process.env.KUBECONFIG?.split(':')[0],
    path.join(os.homedir(), '.kube', 'config'),
  ];
  const file = candidates.find((c): c is string => !!c);
  if (!file || !existsSync(file)) {
    throw new Error(
      `no kubeconfig found (tried ${candidates.filter(Boolean).join(', ')}); pass --kubeconfig`,
    );
  }
  return file;
}

export function clientFor(flag?: string): RestClient {
  return RestClient.fromKubeconfig(resolveKubeconfig(flag));
}
