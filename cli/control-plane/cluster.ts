import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SEER_NAMESPACE } from '../../api/names.js';
import { isAlreadyExists } from '../../kube/errors.js';
import { RestClient } from '../../kube/rest.js';
import { controlPlaneBinaries, type ControlPlaneBinaries } from './binaries.js';
import { writeKubeconfig } from './kubeconfig.js';
import { createPki, type Pki } from './pki.js';
import { freePort } from './ports.js';
import { isAlive, runsProgram, terminate } from './processes.js';

/** What `seer cluster up` leaves in DIR/cluster.json, so `seer cluster down` can find it again. */
export interface ClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  /** Where etcd, kube-apiserver, kubectl and helm of this cluster's version are. */
  binDir: string;
  etcd: { pid: number; program: string; url: string };
  apiserver: { pid: number; program: string; args: string[] };
  watchdog?: { pid: number };
}

export interface StartClusterOptions {
  dir: string;
  binaries?: ControlPlaneBinaries;
  /** Give up when the API server is not ready after this long. */
  readyTimeoutMs?: number;
  /** Stop the cluster when this process dies, even by SIGKILL (the test suite's own pid). */
  ownerPid?: number;
}

const STATE_FILE = 'cluster.json';

function statePath(dir: string): string {
  return path.join(dir, STATE_FILE);
}

export async function readClusterState(dir: string): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

async function startProcess(program: string, args: string[], logFile: string): Promise<number> {
  const log = await open(logFile, 'a');
  try {
    // Detached: its own process group, so it outlives `seer cluster up` and can be stopped as a group.
    const child = spawn(program, args, { detached: true, stdio: ['ignore', log.fd, log.fd] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`${program} did not start`);
    return child.pid;
  } finally {
    await log.close();
  }
}

async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function readyz(server: string, certs: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<boolean> {
  return new Promise((resolve) => {
    const request = https.get(
      `${server}/readyz`,
      { ca: certs.ca, cert: certs.cert, key: certs.key, timeout: 1000 },
      (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      },
    );
    request.on('error', () => resolve(false));
    request.on('timeout', () => request.destroy());
  });
}

async function waitUntilReady(state: ClusterState, pki: Pki, timeoutMs: number): Promise<void> {
  const certs = {
    ca: await readFile(pki.caCert),
    cert: await readFile(pki.adminCert),
    key: await readFile(pki.adminKey),
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const [name, pid] of [
      ['etcd', state.etcd.pid],
      ['kube-apiserver', state.apiserver.pid],
    ] as const) {
      if (!isAlive(pid)) {
        throw new Error(
          `${name} exited during start-up:\n${await tail(path.join(state.dir, `${name}.log`))}`,
        );
      }
    }
    if (await readyz(state.server, certs)) return;
    await sleep(50);
  }
  throw new Error(
    `kube-apiserver not ready after ${timeoutMs} ms:\n${await tail(path.join(state.dir, 'kube-apiserver.log'))}`,
  );
}

/** Creates a namespace, unless it exists already. */
async function ensureNamespace(kubeconfig: string, name: string): Promise<void> {
  const rest = RestClient.fromKubeconfig(kubeconfig);
  try {
    await rest.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
    });
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  } finally {
    rest.close();
  }
}

/**
 * Starts etcd and kube-apiserver (RBAC on) on free loopback ports, waits until the API server reports
 * ready, writes DIR/kubeconfig for an admin and creates the seer-system namespace (the operator's
 * Lease and the nodes' ServiceAccounts live there, so local use needs no extra step). The processes
 * keep running after this process exits; `stopCluster(dir)` stops them. PKI and etcd data under DIR are reused by a later start.
 */
export async function startCluster(options: StartClusterOptions): Promise<ClusterState> {
  const dir = path.resolve(options.dir);
  const existing = await readClusterState(dir);
  if (existing && (isAlive(existing.apiserver.pid) || isAlive(existing.etcd.pid))) {
    if (
      (await runsProgram(existing.apiserver.pid, existing.apiserver.program)) ||
      (await runsProgram(existing.etcd.pid, existing.etcd.program))
    ) {
      throw new Error(`a cluster is already running in ${dir}; stop it with: seer cluster down --dir ${dir}`);
    }
  }
  await mkdir(dir, { recursive: true });
  const binaries = options.binaries ?? (await controlPlaneBinaries());
  const pkiDir = path.join(dir, 'pki');
  const pki = existsSync(path.join(pkiDir, 'sa.key')) ? pkiPaths(pkiDir) : await createPki(pkiDir);

  const [etcdPort, etcdPeerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  const etcdPid = await startProcess(
    binaries.etcd,
    [
      '--name=seer',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=seer=${peerUrl}`,
      // A throwaway local cluster: durability is not worth the fsync latency.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    path.join(dir, 'etcd.log'),
  );

  const server = `https://127.0.0.1:${apiPort}`;
  const apiserverArgs = [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--cert-dir=${pkiDir}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${pki.serviceAccountPublicKey}`,
    `--service-account-signing-key-file=${pki.serviceAccountPrivateKey}`,
    '--service-cluster-ip-range=10.96.0.0/24',
    // A loopback address cannot be published as the `kubernetes` Service's endpoint.
    '--endpoint-reconciler-type=none',
    '--profiling=false',
  ];
  const apiserverPid = await startProcess(
    binaries.kubeApiserver,
    apiserverArgs,
    path.join(dir, 'kube-apiserver.log'),
  );

  const state: ClusterState = {
    dir,
    kubeconfig: path.join(dir, 'kubeconfig'),
    server,
    binDir: binaries.dir,
    etcd: { pid: etcdPid, program: binaries.etcd, url: etcdUrl },
    apiserver: { pid: apiserverPid, program: binaries.kubeApiserver, args: apiserverArgs },
  };
  if (options.ownerPid !== undefined) {
    state.watchdog = { pid: await startWatchdog(options.ownerPid, dir) };
  }
  await writeFile(statePath(dir), JSON.stringify(state, null, 2));
  try {
    await waitUntilReady(state, pki, options.readyTimeoutMs ?? 60_000);
    await writeKubeconfig(state.kubeconfig, {
      server,
      caCertFile: pki.caCert,
      clusterName: 'seer-local',
      userName: 'seer-admin',
      credentials: { clientCertFile: pki.adminCert, clientKeyFile: pki.adminKey },
    });
    await ensureNamespace(state.kubeconfig, SEER_NAMESPACE);
  } catch (error) {
    await stopCluster(dir);
    throw error;
  }
  return state;
}

/**
 * Stops only the API server (etcd keeps the data), for tests of what happens while it is away;
 * `startApiServer` brings it back on the same port with the same flags.
 */
export async function stopApiServer(dir: string): Promise<void> {
  const state = await readClusterState(path.resolve(dir));
  if (state && (await runsProgram(state.apiserver.pid, state.apiserver.program)))
    await terminate(state.apiserver.pid);
}

export async function startApiServer(dir: string, readyTimeoutMs = 60_000): Promise<ClusterState> {
  const state = await readClusterState(path.resolve(dir));
  if (!state) throw new Error(`no cluster recorded in ${dir}`);
  const { program, args } = state.apiserver;
  state.apiserver.pid = await startProcess(program, args, path.join(state.dir, 'kube-apiserver.log'));
  await writeFile(statePath(state.dir), JSON.stringify(state, null, 2));
  await waitUntilReady(state, pkiPaths(path.join(state.dir, 'pki')), readyTimeoutMs);
  return state;
}

function pkiPaths(dir: string): Pki {
  const p = (file: string) => path.join(dir, file);
  return {
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    servingCert: p('apiserver.crt'),
    servingKey: p('apiserver.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    serviceAccountPublicKey: p('sa.pub'),
    serviceAccountPrivateKey: p('sa.key'),
  };
}

/**
 * Starts watchdog.js in its own session (neither Ctrl-C nor a closed terminal reaches it) to stop the
 * cluster in `dir` once `ownerPid` is gone, or with `demoDir` everything that demo started.
 */
export async function startWatchdog(ownerPid: number, dir: string, demoDir?: string): Promise<number> {
  const script = new URL('./watchdog.js', import.meta.url).pathname;
  const args = [script, String(ownerPid), dir, ...(demoDir ? [demoDir] : [])];
  return startProcess(process.execPath, args, path.join(demoDir ?? dir, 'watchdog.log'));
}

/** Stops what `startCluster` started in `dir` (API server first, then etcd) and waits until it is gone. */
export async function stopCluster(dir: string): Promise<boolean> {
  const state = await readClusterState(path.resolve(dir));
  if (!state) return false;
  for (const { pid, program } of [state.apiserver, state.etcd]) {
    if (await runsProgram(pid, program)) await terminate(pid);
  }
  await rm(statePath(state.dir), { force: true });
  if (state.watchdog && state.watchdog.pid !== process.pid) await terminate(state.watchdog.pid, 1000);
  return true;
}
