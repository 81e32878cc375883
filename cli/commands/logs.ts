import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEPLOYMENT_LABEL, SEER_GROUP } from '../../api/names.js';
import type { SeerPod } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { UsageError, type Command } from '../command.js';
import { parseDuration } from '../duration.js';
import { runLogFiles } from './log-files.js';
import { callerConnection, fetchLog, nodeEndpoint } from './node-endpoint.js';
import type { CommandOutput } from './package.js';

const USAGE = `usage:
  seer logs POD [-c CONTAINER] [options]          one pod (also seerpod/POD, spod/POD)
  seer logs seerdeployment/NAME [options]         the deployment's pods (also sdeploy/NAME, deploy/NAME)
  seer logs -l KEY=VALUE[,KEY=VALUE] [options]    the pods with these labels
  seer logs files POD [PATH] [-c C] [--tail N]    the log files a container writes itself (see seer logs files)
options:
  -c, --container NAME   the container (needed when a pod has several, unless --all-containers)
  --all-containers       every container of each pod
  --tail N               only the last N lines of each stream
  -f, --follow           go on printing what the containers write, until they restart or Ctrl-C
  -p, --previous         the log of the run before the current one (after a restart)
  --since DURATION       only lines written in the last DURATION (such as 30s, 5m, 1h), before --tail
  --timestamps           start each line with when it was written (RFC 3339, UTC)
  --stream STREAM        stdout, stderr or all (default: all, stdout's lines then stderr's)
  --prefix               start each line with [pod/container] (the default with several pods or containers)
  -n, --namespace NS     the pods' namespace (default: the kubeconfig context's, else default)
  --kubeconfig FILE      default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account
The logs come from the agent of each pod's node, which checks your own credentials (a token or a
client certificate from the kubeconfig) with the API server: you need get on seerpods/log.`;

const OPTIONS = {
  container: { type: 'string', short: 'c' },
  'all-containers': { type: 'boolean' },
  tail: { type: 'string' },
  previous: { type: 'boolean', short: 'p' },
  follow: { type: 'boolean', short: 'f' },
  since: { type: 'string' },
  timestamps: { type: 'boolean' },
  stream: { type: 'string' },
  prefix: { type: 'boolean' },
  selector: { type: 'string', short: 'l' },
  namespace: { type: 'string', short: 'n' },
  kubeconfig: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const POD_TYPES = new Set(['seerpod', 'seerpods', 'spod', 'pod', 'pods', `seerpod.${SEER_GROUP}`]);
const DEPLOYMENT_TYPES = new Set([
  'seerdeployment',
  'seerdeployments',
  'sdeploy',
  'deploy',
  'deployment',
  `seerdeployment.${SEER_GROUP}`,
]);

/** What to read: a pod, a deployment's pods, or the pods a label selector picks. */
export type LogsTarget = { pod: string } | { deployment: string } | { selector: string };

export function parseTarget(positionals: string[], selector: string | undefined): LogsTarget {
  if (selector !== undefined) {
    if (positionals.length > 0) throw new UsageError(`give either a pod or -l SELECTOR, not both\n${USAGE}`);
    if (!/^[^=,\s]+=[^=,\s]*(,[^=,\s]+=[^=,\s]*)*$/.test(selector))
      throw new UsageError(`-l: "${selector}" is not a selector such as app=web or app=web,tier=front`);
    return { selector };
  }
  const [first, ...extra] = positionals;
  if (first === undefined || extra.length > 0) throw new UsageError(USAGE);
  const slash = first.indexOf('/');
  if (slash < 0) return { pod: first };
  const type = first.slice(0, slash).toLowerCase();
  const name = first.slice(slash + 1);
  if (!name) throw new UsageError(USAGE);
  if (POD_TYPES.has(type)) return { pod: name };
  if (DEPLOYMENT_TYPES.has(type)) return { deployment: name };
  throw new UsageError(`seer logs reads seerpods and seerdeployments, not ${type}\n${USAGE}`);
}

async function targetPods(client: SeerClient, namespace: string, target: LogsTarget): Promise<SeerPod[]> {
  if ('pod' in target) {
    try {
      return [await client.get('SeerPod', target.pod, namespace)];
    } catch (error) {
      if (isNotFound(error)) throw new Error(`seerpod "${target.pod}" not found in namespace ${namespace}`);
      throw error;
    }
  }
  let selector: string;
  if ('deployment' in target) {
    let deployment;
    try {
      deployment = await client.get('SeerDeployment', target.deployment, namespace);
    } catch (error) {
      if (isNotFound(error))
        throw new Error(`seerdeployment "${target.deployment}" not found in namespace ${namespace}`);
      throw error;
    }
    const labels = { [DEPLOYMENT_LABEL]: target.deployment, ...deployment.spec.selector?.match_labels };
    selector = Object.entries(labels)
      .map(([key, value]) => `${key}=${value}`)
      .join(',');
  } else selector = target.selector;
  const pods = (await client.list('SeerPod', { namespace, labelSelector: selector })).items;
  if (pods.length === 0) throw new Error(`no seerpods match ${selector} in namespace ${namespace}`);
  return pods.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

/** The containers to read of `pod`, as kubectl picks them. */
function containersOf(pod: SeerPod, container: string | undefined, all: boolean): string[] {
  const names = pod.spec.containers.map((c) => c.name);
  if (container !== undefined) {
    if (!names.includes(container))
      throw new Error(
        `container "${container}" is not in pod ${pod.metadata.name}: choose one of ${names.join(', ')}`,
      );
    return [container];
  }
  if (all || names.length === 1) return names;
  throw new UsageError(
    `pod ${pod.metadata.name} has several containers: choose one of ${names.join(', ')} with -c, or --all-containers`,
  );
}

/** Splits text into whole lines, holding back a partial last line until the next chunk or the end. */
function lineSplitter(write: (line: string) => void): { push(text: string): void; end(): void } {
  let rest = '';
  return {
    push(text) {
      const lines = (rest + text).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) write(`${line}\n`);
    },
    end() {
      if (rest) write(`${rest}\n`);
      rest = '';
    },
  };
}

/** --since as whole seconds, rounded up (as kubectl sends it): more than zero. */
export function sinceSecondsOf(text: string): number {
  const ms = parseDuration(text, '--since');
  if (ms <= 0) throw new UsageError(`--since must be more than zero, not "${text}"`);
  return Math.ceil(ms / 1000);
}

export function createLogsCommand(output: CommandOutput = process): Command {
  return {
    name: 'logs',
    summary: "print a pod's container logs, read from its node's agent",
    async run(args) {
      if (args[0] === 'files') return runLogFiles(args.slice(1), output);
      let parsed;
      try {
        parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true });
      } catch (error) {
        throw new UsageError(`${errorMessage(error)}\n${USAGE}`);
      }
      const { values, positionals } = parsed;
      const target = parseTarget(positionals, values.selector);
      if (values.tail !== undefined && !/^\d+$/.test(values.tail))
        throw new UsageError(`--tail must be a whole number of lines, not "${values.tail}"`);
      const sinceSeconds = values.since === undefined ? undefined : sinceSecondsOf(values.since);
      const stream = values.stream ?? 'all';
      if (!['stdout', 'stderr', 'all'].includes(stream))
        throw new UsageError(`--stream must be stdout, stderr or all, not "${stream}"`);
      const { connection, namespace } = callerConnection(values.kubeconfig, values.namespace);
      const rest = new RestClient(connection);
      try {
        const client = new SeerClient(rest);
        const pods = await targetPods(client, namespace, target);
        const sources = pods.flatMap((pod) =>
          containersOf(pod, values.container, values['all-containers'] === true).map((container) => ({
            pod,
            container,
          })),
        );
        const prefix = values.prefix === true || sources.length > 1;
        const query = new URLSearchParams({ stream });
        if (values.tail !== undefined) query.set('tail_lines', values.tail);
        if (values.previous === true) query.set('previous', 'true');
        if (values.follow === true) query.set('follow', 'true');
        if (sinceSeconds !== undefined) query.set('since_seconds', String(sinceSeconds));
        if (values.timestamps === true) query.set('timestamps', 'true');
        const read = async ({ pod, container }: { pod: SeerPod; container: string }) => {
          const name = pod.metadata.name ?? '';
          const endpoint = await nodeEndpoint(client, pod);
          const lines = lineSplitter((line) =>
            output.stdout.write(prefix ? `[${name}/${container}] ${line}` : line),
          );
          const urlPath =
            `/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}` +
            `/containers/${encodeURIComponent(container)}/logs?${query.toString()}`;
          try {
            await fetchLog(connection, endpoint, urlPath, (text) => lines.push(text));
          } catch (error) {
            throw new Error(
              `${name}/${container} (node ${pod.spec.node_name ?? ''}): ${errorMessage(error)}`,
            );
          }
          lines.end();
        };
        // Followed logs never end on their own: read them all at once, whole lines each.
        if (values.follow === true) await Promise.all(sources.map(read));
        else for (const source of sources) await read(source);
      } finally {
        rest.close();
      }
    },
  };
}

export const logsCommand: Command = createLogsCommand();
