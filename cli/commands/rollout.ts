import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import yaml from 'js-yaml';
import { CHANGE_CAUSE_ANNOTATION, SEER_GROUP } from '../../api/names.js';
import type { SeerDeployment } from '../../api/types.js';
import { isConflict, isNotFound } from '../../kube/errors.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { fetchHistory, previousRevision } from '../../workloads/revisions.js';
import { rolloutProgress } from '../../workloads/rollout-progress.js';
import { sameTemplate } from '../../workloads/template-hash.js';
import { parseDuration } from '../duration.js';
import { UsageError, type Command } from '../command.js';
import type { CommandOutput } from './package.js';
import { objectRef } from '../../kube/keys.js';

/** On a deployment's template: changing it rolls out new pods of an otherwise unchanged template. */
export const RESTARTED_AT_ANNOTATION = 'seer.io/restarted-at';

const USAGE = `usage:
  seer rollout status seerdeployment/NAME [--timeout DURATION]
      wait for the rollout to finish, printing its progress; fails when the timeout (e.g. 90s, 5m;
      default none) or the deployment's progress deadline passes
  seer rollout restart seerdeployment/NAME
      replace every pod by a rolling update, with the same template
  seer rollout pause seerdeployment/NAME
      hold template changes back (scaling still works) until resumed
  seer rollout resume seerdeployment/NAME
      roll out the template changes made while paused
  seer rollout undo seerdeployment/NAME [--to-revision N]
      roll back to revision N (default: the one before the current one)
  seer rollout history seerdeployment/NAME [--revision N]
      list the revisions and why each was made, or show the template of revision N
options:
  -n, --namespace NS   the deployment's namespace (default: the kubeconfig context's, else default)
  --kubeconfig FILE    default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account
NAME may also be given as sdeploy/NAME or seerdeployments/NAME.`;

const RESOURCE_TYPES = new Set([
  'seerdeployment',
  'seerdeployments',
  'sdeploy',
  `seerdeployment.${SEER_GROUP}`,
  `seerdeployments.${SEER_GROUP}`,
]);

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  timeout: { type: 'string' },
  'to-revision': { type: 'string' },
  revision: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** The deployment's name from `seerdeployment/NAME` (or `seerdeployment NAME`, as kubectl allows). */
export function parseResource(positionals: string[]): string {
  const [first, second, ...extra] = positionals;
  let type: string | undefined;
  let name: string | undefined;
  const parts = first?.split('/') ?? [];
  if (parts.length === 2 && second === undefined) [type, name] = parts;
  else if (first !== undefined && second !== undefined && extra.length === 0) [type, name] = [first, second];
  if (!type || !name) throw new UsageError(`expected seerdeployment/NAME\n${USAGE}`);
  if (!RESOURCE_TYPES.has(type.toLowerCase()))
    throw new UsageError(`seer rollout works on seerdeployments, not ${type}\n${USAGE}`);
  return name;
}

function revisionNumber(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${option} must be a revision number, not "${value}"`);
  return Number(value);
}

/** The kubeconfig to use: the flag, else the first file in $KUBECONFIG, else ~/.kube/config if there is one. */
export function kubeconfigFile(flag: string | undefined): string | undefined {
  if (flag) return flag;
  const fromEnv = (process.env.KUBECONFIG ?? '').split(path.delimiter).find((f) => f && existsSync(f));
  if (fromEnv) return fromEnv;
  const home = path.join(os.homedir(), '.kube', 'config');
  return existsSync(home) ? home : undefined;
}

/** The namespace of the kubeconfig's current context, if it names one. */
export function contextNamespace(file: string | undefined): string | undefined {
  if (!file) return undefined;
  const config = yaml.load(readFileSync(file, 'utf8')) as {
    'current-context'?: string;
    contexts?: { name: string; context?: { namespace?: string } }[];
  };
  return config.contexts?.find((c) => c.name === config['current-context'])?.context?.namespace;
}

interface Target {
  client: SeerClient;
  rest: RestClient;
  namespace: string;
  name: string;
  output: CommandOutput;
}

async function getDeployment({ client, namespace, name }: Target): Promise<SeerDeployment> {
  try {
    return await client.get('SeerDeployment', name, namespace);
  } catch (error) {
    if (isNotFound(error)) throw new Error(`seerdeployment "${name}" not found in namespace ${namespace}`);
    throw error;
  }
}

/** Prints the rollout's progress as it changes; resolves once it is done. */
async function status(target: Target, timeoutMs: number): Promise<void> {
  const { client, namespace, name, output } = target;
  let printed = '';
  const report = (deployment: SeerDeployment) => {
    const progress = rolloutProgress(deployment);
    if (progress.message !== printed) output.stdout.write(`${progress.message}\n`);
    printed = progress.message;
    return progress;
  };
  const first = report(await getDeployment(target));
  if (first.state === 'done') return;
  if (first.state === 'failed') throw new Error(first.message);

  const informer = client.informer('SeerDeployment', { namespace, fieldSelector: `metadata.name=${name}` });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve();
      };
      const check = (deployment: SeerDeployment) => {
        if (settled) return;
        const progress = report(deployment);
        if (progress.state === 'done') settle();
        else if (progress.state === 'failed') settle(new Error(progress.message));
      };
      if (timeoutMs > 0) {
        timer = setTimeout(
          () => settle(new Error(`timed out waiting for the rollout of seerdeployment "${name}"`)),
          timeoutMs,
        );
      }
      informer.on('add', check);
      informer.on('update', (_old, deployment) => check(deployment));
      informer.on('delete', () => settle(new Error(`seerdeployment "${name}" was deleted`)));
      void informer.start();
    });
  } finally {
    clearTimeout(timer);
    await informer.stop();
  }
}

async function restart(target: Target): Promise<void> {
  const deployment = await getDeployment(target);
  if (deployment.spec.paused)
    throw new Error(`can't restart paused seerdeployment "${target.name}" (seer rollout resume first)`);
  await target.client.patch('SeerDeployment', objectRef(target.name, target.namespace), {
    spec: {
      template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: new Date().toISOString() } } },
    },
  });
  target.output.stdout.write(`seerdeployment.${SEER_GROUP}/${target.name} restarted\n`);
}

/** Sets spec.paused; like kubectl, pausing what is paused (or resuming what is not) is an error. */
async function setPaused(target: Target, paused: boolean): Promise<void> {
  const deployment = await getDeployment(target);
  if (Boolean(deployment.spec.paused) === paused)
    throw new Error(`seerdeployment "${target.name}" is ${paused ? 'already paused' : 'not paused'}`);
  await target.client.patch('SeerDeployment', objectRef(target.name, target.namespace), { spec: { paused } });
  target.output.stdout.write(`seerdeployment.${SEER_GROUP}/${target.name} ${paused ? 'paused' : 'resumed'}
`);
}

const REPLACE_ATTEMPTS = 5;

/**
 * Puts the revision's template back into the deployment (the whole template, replaced, not merged),
 * with the change cause that revision was made for; the controller then rolls it out as the next
 * revision.
 */
async function undo(target: Target, toRevision: number | undefined): Promise<void> {
  const { client, rest, name, output } = target;
  for (let attempt = 1; ; attempt++) {
    const deployment = await getDeployment(target);
    if (deployment.spec.paused)
      throw new Error(`can't roll back paused seerdeployment "${name}" (seer rollout resume first)`);
    const history = await fetchHistory(rest, deployment);
    if (history.length === 0) throw new Error(`no rollout history found for seerdeployment "${name}"`);
    const revision = toRevision
      ? history.find((r) => r.revision === toRevision)
      : previousRevision(history, deployment);
    if (!revision) {
      throw new Error(
        toRevision
          ? `unable to find revision ${toRevision} in the history`
          : 'no previous revision to roll back to',
      );
    }
    const template = revision.data?.template;
    if (!template) throw new Error(`revision ${revision.revision} holds no template`);
    if (sameTemplate(template, deployment.spec.template)) {
      output.stdout.write(
        `seerdeployment.${SEER_GROUP}/${name} skipped rollback (current template already matches revision ${revision.revision})\n`,
      );
      return;
    }
    const annotations = { ...deployment.metadata.annotations };
    const changeCause = revision.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
    if (changeCause === undefined) delete annotations[CHANGE_CAUSE_ANNOTATION];
    else annotations[CHANGE_CAUSE_ANNOTATION] = changeCause;
    try {
      await client.replace('SeerDeployment', {
        ...deployment,
        metadata: { ...deployment.metadata, annotations },
        spec: { ...deployment.spec, template },
      });
      output.stdout.write(`seerdeployment.${SEER_GROUP}/${name} rolled back\n`);
      return;
    } catch (error) {
      // Changed since it was read: read it again and redo the rollback on the new version.
      if (!isConflict(error) || attempt === REPLACE_ATTEMPTS) throw error;
    }
  }
}

async function history(target: Target, revisionWanted: number | undefined): Promise<void> {
  const { rest, name, output } = target;
  const revisions = await fetchHistory(rest, await getDeployment(target));
  const resource = `seerdeployment.${SEER_GROUP}/${name}`;
  if (revisionWanted !== undefined) {
    const revision = revisions.find((r) => r.revision === revisionWanted);
    if (!revision) throw new Error(`unable to find revision ${revisionWanted} of ${resource}`);
    output.stdout.write(`${resource} with revision #${revisionWanted}\n`);
    output.stdout.write(yaml.dump(revision.data?.template ?? {}, { lineWidth: -1 }));
    return;
  }
  const rows = [
    ['REVISION', 'CHANGE-CAUSE'],
    ...revisions.map((r) => [
      String(r.revision),
      r.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION] ?? '<none>',
    ]),
  ];
  const width = Math.max(...rows.map(([revision]) => (revision ?? '').length)) + 2;
  output.stdout.write(`${resource}\n`);
  for (const [revision, cause] of rows) output.stdout.write(`${(revision ?? '').padEnd(width)}${cause}\n`);
}

export function createRolloutCommand(output: CommandOutput = process): Command {
  return {
    name: 'rollout',
    summary: 'follow, restart, pause, resume, undo and list the rollouts of a seerdeployment',
    async run(args) {
      const [action, ...rest] = args;
      if (!action || !['status', 'restart', 'pause', 'resume', 'undo', 'history'].includes(action))
        throw new UsageError(USAGE);
      let parsed;
      try {
        parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
      } catch (error) {
        throw new UsageError(`${(error as Error).message}\n${USAGE}`);
      }
      const { values, positionals } = parsed;
      const name = parseResource(positionals);
      const timeoutMs = values.timeout === undefined ? 0 : parseDuration(values.timeout, '--timeout');
      const toRevision = revisionNumber('--to-revision', values['to-revision']);
      const revision = revisionNumber('--revision', values.revision);
      const file = kubeconfigFile(values.kubeconfig);
      const restClient = RestClient.fromKubeconfig(file);
      const target: Target = {
        client: new SeerClient(restClient),
        rest: restClient,
        namespace: values.namespace ?? contextNamespace(file) ?? 'default',
        name,
        output,
      };
      try {
        if (action === 'status') await status(target, timeoutMs);
        else if (action === 'restart') await restart(target);
        else if (action === 'pause' || action === 'resume') await setPaused(target, action === 'pause');
        else if (action === 'undo') await undo(target, toRevision);
        else await history(target, revision);
      } finally {
        restClient.close();
      }
    },
  };
}

export const rolloutCommand: Command = createRolloutCommand();
