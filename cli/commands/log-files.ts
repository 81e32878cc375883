import { parseArgs } from 'node:util';
import type { SeerPod } from '../../api/types.js';
import { errorMessage, isNotFound } from '../../kube/errors.js';
import { RestClient } from '../../kube/rest.js';
import { SeerClient } from '../../kube/seer-client.js';
import { UsageError } from '../command.js';
import { callerConnection, fetchLog, nodeEndpoint } from './node-endpoint.js';
import type { CommandOutput } from './package.js';

const USAGE = `usage:
  seer logs files POD [-c CONTAINER] [-n NS]               list the log files the container writes itself
  seer logs files POD PATH [-c CONTAINER] [--tail N]       print one (PATH as listed, e.g. container/logs/app.log)
Listed: files ending in .log or below a log/ or logs/ directory of the container's directory
(container/...), and, when the node's agent has --app-log-root, the files of the pod's app label
there (app/...). A pod named "files" is seerpod/files.`;

interface LogFileEntry {
  path: string;
  size: number;
  modified: string;
}

/** The list as a PATH SIZE MODIFIED table, columns padded to their widest cell. */
export function logFilesTable(files: LogFileEntry[]): string {
  const rows = [['PATH', 'SIZE', 'MODIFIED'], ...files.map((f) => [f.path, String(f.size), f.modified])];
  const widths = [0, 1].map((column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row) => row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell)).join('   ') + '\n')
    .join('');
}

export async function runLogFiles(args: string[], output: CommandOutput): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        container: { type: 'string', short: 'c' },
        tail: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        kubeconfig: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError(`${errorMessage(error)}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const [podArg, filePath, ...extra] = positionals;
  if (podArg === undefined || extra.length > 0) throw new UsageError(USAGE);
  const podName = podArg.replace(/^(seerpods?|spod|pods?)\//i, '');
  if (values.tail !== undefined && !/^\d+$/.test(values.tail))
    throw new UsageError(`--tail must be a whole number of lines, not "${values.tail}"`);
  if (values.tail !== undefined && filePath === undefined)
    throw new UsageError(`--tail goes with a file's PATH\n${USAGE}`);
  const { connection, namespace } = callerConnection(values.kubeconfig, values.namespace);
  const rest = new RestClient(connection);
  try {
    const client = new SeerClient(rest);
    let pod: SeerPod;
    try {
      pod = await client.get('SeerPod', podName, namespace);
    } catch (error) {
      if (isNotFound(error)) throw new Error(`seerpod "${podName}" not found in namespace ${namespace}`);
      throw error;
    }
    const names = pod.spec.containers.map((c) => c.name);
    const container = values.container ?? (names.length === 1 ? names[0] : undefined);
    if (container === undefined || !names.includes(container))
      throw new UsageError(`choose a container of pod ${podName} with -c: ${names.join(', ')}`);
    const base =
      `/pods/${encodeURIComponent(namespace)}/${encodeURIComponent(podName)}` +
      `/containers/${encodeURIComponent(container)}/logfiles`;
    const endpoint = await nodeEndpoint(client, pod);
    if (filePath === undefined) {
      let body = '';
      await fetchLog(connection, endpoint, base, (text) => (body += text));
      output.stdout.write(logFilesTable((JSON.parse(body) as { files: LogFileEntry[] }).files));
      return;
    }
    const encoded = filePath.split('/').map(encodeURIComponent).join('/');
    const query = values.tail === undefined ? '' : `?tail_lines=${values.tail}`;
    await fetchLog(connection, endpoint, `${base}/${encoded}${query}`, (text) => output.stdout.write(text));
  } finally {
    rest.close();
  }
}
