import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import yaml from 'js-yaml';
import {
  ABORTED_ANNOTATION,
  CHANGE_CAUSE_ANNOTATION,
  PROMOTED_ANNOTATION,
  SEER_GROUP,
} from '../../api/names.js';
import type { SeerDaemonSet, SeerDeployment, SeerStatefulSet } from '../../api/types.js';
import { isConflict, isNotFound } from '../../kube/errors.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { fetchHistory, previousRevision } from '../../workloads/revisions.js';
import {
  daemonSetRolloutProgress,
  rolloutProgress,
  statefulSetRolloutProgress,
  type RolloutProgress,
} from '../../workloads/rollout-progress.js';
import { sameTemplate, templateHash } from '../../workloads/template-hash.js';
import { parseDuration } from '../duration.js';
import { UsageError, type Command } from '../command.js';
import type { CommandOutput } from './package.js';
import { objectRef } from '../../kube/keys.js';

/** On a workload's template: changing it rolls out new pods of an otherwise unchanged template. */
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
  seer rollout promote seerdeployment/NAME
      canary or blue_green strategy: go on from the canary (or new) pods to the whole new revision
  seer rollout abort seerdeployment/NAME
      canary or blue_green strategy: go back to the stable revision, removing the new pods
  seer rollout undo seerdeployment/NAME [--to-revision N]
      roll back to revision N (default: the one before the current one)
  seer rollout history seerdeployment/NAME [--revision N]
      list the revisions and why each was made, or show the template of revision N
  seer rollout status seerdaemonset/NAME [--timeout DURATION]
  seer rollout restart seerdaemonset/NAME
      the same for a daemon set (rolling update strategy); it has no pause, undo or history
  seer rollout status|restart|undo|history seerstatefulset/NAME
      the same for a stateful set (status and restart with the rolling_update strategy); it has no pause
options:
  -n, --namespace NS   the object's namespace (default: the kubeconfig context's, else default)
  --kubeconfig FILE    default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account
NAME may also be given as sdeploy/NAME or seerdeployments/NAME (sds/NAME or seerdaemonsets/NAME,
ssts/NAME or seerstatefulsets/NAME).`;

type RolloutKind = 'SeerDeployment' | 'SeerDaemonSet' | 'SeerStatefulSet';
type RolloutObject = SeerDeployment | SeerDaemonSet | SeerStatefulSet;

const RESOURCE_TYPES = new Map<string, RolloutKind>(
  (
    [
      ['SeerDeployment', ['seerdeployment', 'seerdeployments', 'sdeploy']],
      ['SeerDaemonSet', ['seerdaemonset', 'seerdaemonsets', 'sds']],
      ['SeerStatefulSet', ['seerstatefulset', 'seerstatefulsets', 'ssts']],
    ] as const
  ).flatMap(([kind, names]) =>
    names.flatMap((type) => [
      [type, kind],
      [`${type}.${SEER_GROUP}`, kind],
    ]),
  ),
);

/** What each kind is called in messages and in kubectl's `<resource>.<group>/<name>` output. */
const RESOURCE_NAME: Record<RolloutKind, string> = {
  SeerDeployment: 'seerdeployment',
  SeerDaemonSet: 'seerdaemonset',
  SeerStatefulSet: 'seerstatefulset',
};

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
  timeout: { type: 'string' },
  'to-revision': { type: 'string' },
  revision: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/**
 * The object from `seerdeployment/NAME` (or `seerdeployment NAME`, as kubectl allows), or a daemon
 * set's or stateful set's.
 */
export function parseTarget(positionals: string[]): { kind: RolloutKind; name: string } {
  const [first, second, ...extra] = positionals;
  let type: string | undefined;
  let name: string | undefined;
  const parts = first?.split('/') ?? [];
  if (parts.length === 2 && second === undefined) [type, name] = parts;
  else if (first !== undefined && second !== undefined && extra.length === 0) [type, name] = [first, second];
  if (!type || !name) throw new UsageError(`expected seerdeployment/NAME\n${USAGE}`);
  const kind = RESOURCE_TYPES.get(type.toLowerCase());
  if (!kind)
    throw new UsageError(
      `seer rollout works on seerdeployments, seerdaemonsets and seerstatefulsets, not ${type}\n${USAGE}`,
    );
  return { kind, name };
}

/** The name from `seerdeployment/NAME` (or a daemon set's `seerdaemonset/NAME`). */
export function parseResource(positionals: string[]): string {
  return parseTarget(positionals).name;
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
  kind: RolloutKind;
  client: SeerClient;
  rest: RestClient;
  namespace: string;
  name: string;
  output: CommandOutput;
}

async function getObject({ kind, client, namespace, name }: Target): Promise<RolloutObject> {
  try {
    return await client.get(kind, name, namespace);
  } catch (error) {
    if (isNotFound(error))
      throw new Error(`${RESOURCE_NAME[kind]} "${name}" not found in namespace ${namespace}`);
    throw error;
  }
}

async function getDeployment({ client, namespace, name }: Target): Promise<SeerDeployment> {
  try {
    return await client.get('SeerDeployment', name, namespace);
  } catch (error) {
    if (isNotFound(error)) throw new Error(`seerdeployment "${name}" not found in namespace ${namespace}`);
    throw error;
  }
}

/** The deployment or stateful set whose revision history undo and history work on. */
async function getHistoryOwner(target: Target): Promise<SeerDeployment | SeerStatefulSet> {
  const object = await getObject(target);
  if (object.kind === 'SeerDaemonSet')
    throw new Error(`${RESOURCE_NAME[target.kind]} has no revision history`);
  return object;
}

function progressOf(object: RolloutObject): RolloutProgress {
  if (object.kind === 'SeerDaemonSet') return daemonSetRolloutProgress(object);
  if (object.kind === 'SeerStatefulSet') return statefulSetRolloutProgress(object);
  return rolloutProgress(object);
}

/** Prints the rollout's progress as it changes; resolves once it is done. */
async function status(target: Target, timeoutMs: number): Promise<void> {
  const { kind, client, namespace, name, output } = target;
  const resource = RESOURCE_NAME[kind];
  let printed = '';
  const report = (object: RolloutObject) => {
    const progress = progressOf(object);
    if (progress.message !== printed) output.stdout.write(`${progress.message}\n`);
    printed = progress.message;
    return progress;
  };
  const first = report(await getObject(target));
  if (first.state === 'done') return;
  if (first.state === 'failed') throw new Error(first.message);

  const informer = client.informer<RolloutKind>(kind, { namespace, fieldSelector: `metadata.name=${name}` });
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
      const check = (object: RolloutObject) => {
        if (settled) return;
        const progress = report(object);
        if (progress.state === 'done') settle();
        else if (progress.state === 'failed') settle(new Error(progress.message));
      };
      if (timeoutMs > 0) {
        timer = setTimeout(
          () => settle(new Error(`timed out waiting for the rollout of ${resource} "${name}"`)),
          timeoutMs,
        );
      }
      informer.on('add', check);
      informer.on('update', (_old, object) => check(object));
      informer.on('delete', () => settle(new Error(`${resource} "${name}" was deleted`)));
      void informer.start();
    });
  } finally {
    clearTimeout(timer);
    await informer.stop();
  }
}

async function restart(target: Target): Promise<void> {
  const object = await getObject(target);
  const resource = RESOURCE_NAME[target.kind];
  if (object.kind === 'SeerDeployment' && object.spec.paused)
    throw new Error(`can't restart paused seerdeployment "${target.name}" (seer rollout resume first)`);
  if (object.kind !== 'SeerDeployment' && object.spec.update_strategy?.type === 'on_delete')
    throw new Error(`can't restart ${resource} "${target.name}": its update strategy is on_delete`);
  await target.client.patch(target.kind, objectRef(target.name, target.namespace), {
    spec: {
      template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: new Date().toISOString() } } },
    },
  });
  target.output.stdout.write(`${resource}.${SEER_GROUP}/${target.name} restarted\n`);
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

/**
 * Promote or abort a canary or blue_green rollout: annotates the deployment with the hash of its
 * current template (seer.io/promoted-template-hash or seer.io/aborted-template-hash).
 */
async function promoteOrAbort(target: Target, action: 'promote' | 'abort'): Promise<void> {
  const deployment = await getDeployment(target);
  const type = deployment.spec.strategy?.type;
  if (type !== 'canary' && type !== 'blue_green')
    throw new Error(
      `seerdeployment "${target.name}" has strategy ${type ?? 'rolling_update'}, not canary or blue_green`,
    );
  const hash = templateHash(deployment.spec.template, deployment.status?.collision_count);
  const annotation = action === 'promote' ? PROMOTED_ANNOTATION : ABORTED_ANNOTATION;
  await target.client.patch('SeerDeployment', objectRef(target.name, target.namespace), {
    metadata: { annotations: { [annotation]: hash } },
  });
  target.output.stdout.write(
    `seerdeployment.${SEER_GROUP}/${target.name} ${action === 'promote' ? 'promoted' : 'aborted'}\n`,
  );
}

const REPLACE_ATTEMPTS = 5;

/**
 * Puts the revision's template back into the deployment or stateful set (the whole template,
 * replaced, not merged), with the change cause that revision was made for; the controller then rolls
 * it out as the next revision.
 */
async function undo(target: Target, toRevision: number | undefined): Promise<void> {
  const { client, rest, name, output } = target;
  const resource = RESOURCE_NAME[target.kind];
  for (let attempt = 1; ; attempt++) {
    const owner = await getHistoryOwner(target);
    if (owner.kind === 'SeerDeployment' && owner.spec.paused)
      throw new Error(`can't roll back paused seerdeployment "${name}" (seer rollout resume first)`);
    const history = await fetchHistory(rest, owner);
    if (history.length === 0) throw new Error(`no rollout history found for ${resource} "${name}"`);
    const revision = toRevision
      ? history.find((r) => r.revision === toRevision)
      : previousRevision(history, owner);
    if (!revision) {
      throw new Error(
        toRevision
          ? `unable to find revision ${toRevision} in the history`
          : 'no previous revision to roll back to',
      );
    }
    const template = revision.data?.template;
    if (!template) throw new Error(`revision ${revision.revision} holds no template`);
    if (sameTemplate(template, owner.spec.template)) {
      output.stdout.write(
        `${resource}.${SEER_GROUP}/${name} skipped rollback (current template already matches revision ${revision.revision})\n`,
      );
      return;
    }
    const annotations = { ...owner.metadata.annotations };
    const changeCause = revision.metadata.annotations?.[CHANGE_CAUSE_ANNOTATION];
    if (changeCause === undefined) delete annotations[CHANGE_CAUSE_ANNOTATION];
    else annotations[CHANGE_CAUSE_ANNOTATION] = changeCause;
    try {
      const metadata = { ...owner.metadata, annotations };
      if (owner.kind === 'SeerDeployment')
        await client.replace('SeerDeployment', { ...owner, metadata, spec: { ...owner.spec, template } });
      else await client.replace('SeerStatefulSet', { ...owner, metadata, spec: { ...owner.spec, template } });
      output.stdout.write(`${resource}.${SEER_GROUP}/${name} rolled back\n`);
      return;
    } catch (error) {
      // Changed since it was read: read it again and redo the rollback on the new version.
      if (!isConflict(error) || attempt === REPLACE_ATTEMPTS) throw error;
    }
  }
}

async function history(target: Target, revisionWanted: number | undefined): Promise<void> {
  const { rest, name, output } = target;
  const revisions = await fetchHistory(rest, await getHistoryOwner(target));
  const resource = `${RESOURCE_NAME[target.kind]}.${SEER_GROUP}/${name}`;
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
    summary:
      'follow, restart, pause, resume, promote, abort, undo and list the rollouts of a seerdeployment; follow, restart, undo and list those of a seerstatefulset; follow and restart a seerdaemonset',
    async run(args) {
      const [action, ...rest] = args;
      if (
        !action ||
        !['status', 'restart', 'pause', 'resume', 'promote', 'abort', 'undo', 'history'].includes(action)
      )
        throw new UsageError(USAGE);
      let parsed;
      try {
        parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
      } catch (error) {
        throw new UsageError(`${(error as Error).message}\n${USAGE}`);
      }
      const { values, positionals } = parsed;
      const { kind, name } = parseTarget(positionals);
      if (kind === 'SeerDaemonSet' && action !== 'status' && action !== 'restart') {
        const kinds =
          action === 'undo' || action === 'history'
            ? 'seerdeployments and seerstatefulsets'
            : 'seerdeployments';
        throw new UsageError(`seer rollout ${action} works on ${kinds} only\n${USAGE}`);
      }
      if (kind !== 'SeerDeployment' && (action === 'promote' || action === 'abort'))
        throw new UsageError(`seer rollout ${action} works on seerdeployments only\n${USAGE}`);
      if (kind === 'SeerStatefulSet' && (action === 'pause' || action === 'resume'))
        throw new UsageError(`seer rollout ${action} works on seerdeployments only\n${USAGE}`);
      const timeoutMs = values.timeout === undefined ? 0 : parseDuration(values.timeout, '--timeout');
      const toRevision = revisionNumber('--to-revision', values['to-revision']);
      const revision = revisionNumber('--revision', values.revision);
      const file = kubeconfigFile(values.kubeconfig);
      const restClient = RestClient.fromKubeconfig(file);
      const target: Target = {
        kind,
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
        else if (action === 'promote' || action === 'abort') await promoteOrAbort(target, action);
        else if (action === 'undo') await undo(target, toRevision);
        else await history(target, revision);
      } finally {
        restClient.close();
      }
    },
  };
}

export const rolloutCommand: Command = createRolloutCommand();
