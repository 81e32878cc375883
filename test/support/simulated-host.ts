import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chmod, mkdir, readdir, readlink } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { repoPath } from '../../common/paths.js';
import type { HostNamespaceConfig } from './host-namespace.js';
import { bridge } from './socket-bridge.js';

/** Where each simulated host sees its own directory, as a real host sees its Seer root. */
export const HOST_ROOT = '/seer';

/**
 * A host simulated on this machine: its own network namespace (so two hosts can both serve port
 * 80 on their loopback), its own hostname, and its own directory mounted at /seer (so absolute
 * deployment_dirs do not collide). Processes run inside it with `enter`.
 */
export interface SimulatedHost {
  name: string;
  /** The host's /seer as seen from outside. */
  dir: string;
  /** The command prefix that runs a program inside the host. */
  enter: string[];
  /** An HTTP GET to 127.0.0.1:port on the host (one of `inbound`). */
  get(port: number, options?: { path?: string; host?: string }): Promise<{ status: number; body: string }>;
  /** Kills every process inside the host, and the host. */
  stop(): Promise<void>;
}

/** Why hosts cannot be simulated here (no namespaces: not root, or a restricted sandbox), or undefined. */
export function simulatedHostsUnsupported(): string | undefined {
  const probe = spawnSync('unshare', ['--net', '--mount', '--uts', 'true']);
  if (probe.status === 0) return undefined;
  return `cannot create namespaces (unshare --net --mount --uts: ${probe.stderr?.toString().trim() || probe.error?.message})`;
}

async function netNamespace(pid: number | string): Promise<string | undefined> {
  return readlink(`/proc/${pid}/ns/net`).catch(() => undefined);
}

/** SIGKILLs every process whose network namespace is `namespace`. */
async function killNamespace(namespace: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if ((await netNamespace(entry)) !== namespace) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Starts a host named `name` whose directory is `<work>/<name>`. `outbound` ports of this machine's
 * loopback (the API server, a registry) are reachable on the host's loopback at the same numbers;
 * `inbound` ports of the host's loopback are reachable through `get`.
 */
export async function startSimulatedHost(options: {
  name: string;
  work: string;
  outbound: number[];
  inbound: number[];
}): Promise<SimulatedHost> {
  const dir = path.join(options.work, options.name);
  const sockets = path.join(options.work, `${options.name}.sockets`);
  await mkdir(dir, { recursive: true });
  await mkdir(sockets, { recursive: true });
  // Daemons' workers run as unprivileged users (nginx's nobody, php-fpm's www-data) and must be
  // able to reach the files under the host's root.
  for (const d of [options.work, dir]) await chmod(d, 0o755);
  mkdirSync(HOST_ROOT, { recursive: true });

  const servers: net.Server[] = [];
  for (const port of options.outbound) {
    servers.push(await bridge({ path: path.join(sockets, `out-${port}.sock`) }, { port, host: '127.0.0.1' }));
  }
  const config: HostNamespaceConfig = {
    name: options.name,
    dir,
    mountPoint: HOST_ROOT,
    sockets,
    outbound: options.outbound,
    inbound: options.inbound,
  };
  const holder: ChildProcess = spawn(
    'unshare',
    [
      '--net',
      '--mount',
      '--uts',
      process.execPath,
      repoPath('dist', 'test', 'support', 'host-namespace.js'),
      JSON.stringify(config),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  process.once('exit', () => holder.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    holder.once('exit', (code) => reject(new Error(`simulated host ${options.name} exited (${code})`)));
    holder.stdout?.once('data', () => resolve());
  });
  const pid = holder.pid ?? 0;
  const namespace = await netNamespace(pid);
  if (!namespace) throw new Error(`simulated host ${options.name}: no network namespace`);

  return {
    name: options.name,
    dir,
    enter: ['nsenter', `--target=${pid}`, '--net', '--mount', '--uts', '--'],
    get(port, { path: requestPath = '/', host } = {}) {
      return new Promise((resolve, reject) => {
        http
          .get(
            {
              socketPath: path.join(sockets, `in-${port}.sock`),
              path: requestPath,
              headers: host ? { host } : {},
              agent: false,
            },
            (response) => {
              let body = '';
              response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
              response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
            },
          )
          .on('error', reject);
      });
    },
    async stop() {
      await killNamespace(namespace);
      for (const server of servers) server.close();
    },
  };
}
