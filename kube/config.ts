import { KubeConfig } from '@kubernetes/client-node';

/** A kubeconfig file when one is given, otherwise the in-cluster service account. */
export function loadKubeConfig(file?: string): KubeConfig {
  const config = new KubeConfig();
  if (file) config.loadFromFile(file);
  else config.loadFromCluster();
  return config;
}
