import { parseArgs } from 'node:util';
import { APP_SET_PHASE, CONFIRMED_ANNOTATION, SEER_GROUP } from '../../api/names.js';
import type { SeerAppSet } from '../../api/types.js';
import { isNotFound } from '../../kube/errors.js';
import { objectRef } from '../../kube/keys.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { UsageError, type Command } from '../command.js';
import type { CommandOutput } from './package.js';
import { contextNamespace, kubeconfigFile } from './rollout.js';

const USAGE = `usage:
  seer appset confirm NAME
      let the revision the first wave (the canary clusters, or the upgraded group) runs go on to the
      other clusters
  seer appset status NAME
      the app set's phase and, per cluster, each pod set's version and available replicas
options:
  -n, --namespace NS   the app set's namespace (default: the kubeconfig context's, else default)
  --kubeconfig FILE    the hub's kubeconfig (default: $KUBECONFIG, else ~/.kube/config)`;

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
} as const;

async function getAppSet(client: SeerClient, name: string, namespace: string): Promise<SeerAppSet> {
  try {
    return await client.get('SeerAppSet', name, namespace);
  } catch (error) {
    if (isNotFound(error)) throw new Error(`seerappset "${name}" not found in namespace ${namespace}`);
    throw error;
  }
}

/** Confirms the revision the hub last reported, once it has seen the app set's latest spec. */
async function confirm(client: SeerClient, appSet: SeerAppSet, output: CommandOutput): Promise<void> {
  const { name = '', namespace, generation } = appSet.metadata;
  const { status } = appSet;
  if (!status?.revision || (status.observed_generation ?? 0) < (generation ?? 0))
    throw new Error(`the hub has not reported on the latest spec of seerappset "${name}" yet; try again`);
  await client.patch('SeerAppSet', objectRef(name, namespace), {
    metadata: { annotations: { [CONFIRMED_ANNOTATION]: status.revision } },
  });
  const note = status.phase === APP_SET_PHASE.WaitingForConfirm ? '' : ` (it was ${status.phase ?? 'new'})`;
  output.stdout.write(`seerappset.${SEER_GROUP}/${name} confirmed revision ${status.revision}${note}\n`);
}

function printStatus(appSet: SeerAppSet, output: CommandOutput): void {
  const { status } = appSet;
  const lines = [
    `${appSet.metadata.name ?? ''}: ${status?.phase ?? 'not reported yet'}, ${status?.available_replicas ?? 0}/${status?.replicas ?? 0} available, version ${status?.version ?? '-'}, revision ${status?.revision ?? '-'}`,
  ];
  for (const cluster of status?.clusters ?? []) {
    lines.push(
      `  ${cluster.name} (${cluster.phase ?? 'Unknown'}): ${cluster.available_replicas ?? 0}/${cluster.replicas ?? 0} available`,
    );
    for (const podSet of cluster.pod_sets ?? []) {
      lines.push(
        `    ${podSet.name}: ${podSet.version ?? '-'}${podSet.updated ? '' : ' (not updated)'}, ${podSet.available_replicas ?? 0}/${podSet.replicas ?? 0} available`,
      );
    }
  }
  for (const condition of status?.conditions ?? []) {
    if (condition.status !== 'True' || condition.type === 'Terminating')
      lines.push(
        `  ${condition.type}=${condition.status} ${condition.reason ?? ''}: ${condition.message ?? ''}`,
      );
  }
  output.stdout.write(`${lines.join('\n')}\n`);
}

export function createAppSetCommand(output: CommandOutput = process): Command {
  return {
    name: 'appset',
    summary: 'confirm a multi-cluster app set rollout past its first wave, or show its status per cluster',
    async run(args) {
      const [action, ...rest] = args;
      if (action !== 'confirm' && action !== 'status') throw new UsageError(USAGE);
      let parsed;
      try {
        parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
      } catch (error) {
        throw new UsageError(`${(error as Error).message}\n${USAGE}`);
      }
      const { values, positionals } = parsed;
      const [rawName, ...extra] = positionals;
      const name = rawName?.replace(/^(seerappsets?|sas)\//, '');
      if (!name || extra.length > 0) throw new UsageError(`expected one app set NAME\n${USAGE}`);
      const file = kubeconfigFile(values.kubeconfig);
      const hubRest = RestClient.fromKubeconfig(file);
      const client = new SeerClient(hubRest);
      try {
        const appSet = await getAppSet(client, name, values.namespace ?? contextNamespace(file) ?? 'default');
        if (action === 'confirm') await confirm(client, appSet, output);
        else printStatus(appSet, output);
      } finally {
        hubRest.close();
      }
    },
  };
}

export const appSetCommand: Command = createAppSetCommand();
