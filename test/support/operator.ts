import path from 'node:path';
import { startSeerProcess, type SeerProcess } from './agent.js';

/** A seer-operator replica as a real process, with short node timeouts for tests. */
export function startOperatorProcess(options: {
  kubeconfig: string;
  identity: string;
  logDir: string;
  args?: string[];
}): Promise<SeerProcess> {
  return startSeerProcess(
    path.join('operator', 'main.js'),
    [
      '--kubeconfig',
      options.kubeconfig,
      '--identity',
      options.identity,
      '--http-address',
      '127.0.0.1:0',
      '--log-level',
      'debug',
      ...(options.args ?? []),
    ],
    path.join(options.logDir, `${options.identity}.log`),
  );
}
