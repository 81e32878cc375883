import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { SHELL } from './shell.js';
import type { Probe } from './spec.js';
import type { UserIdentity } from './user.js';

export interface ProbeResult {
  ok: boolean;
  message: string;
}

/** What a probe needs from its container. */
export interface ProbeTarget {
  directory: string;
  env: Record<string, string>;
  identity: UserIdentity | undefined;
  ports: Record<string, number>;
  /** Set when exec probes cannot run as the container's user; they then fail with this message. */
  unavailable?: string;
}

const OUTPUT_LIMIT = 1024;

export function probeTimeoutMs(probe: Probe): number {
  return (probe.timeout_seconds ?? 1) * 1000;
}

/** A port number, a numeric string, or the name of one of the container's ports. */
export function resolvePort(port: number | string, ports: Record<string, number>): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = ports[port];
  if (named === undefined) throw new Error(`port "${port}" is not one of the container's named ports`);
  return named;
}

function execProbe(command: string, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const child = spawn(SHELL, ['-c', command], {
      cwd: target.directory,
      env: target.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(target.identity ? { uid: target.identity.uid, gid: target.identity.gid } : {}),
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      if (output.length < OUTPUT_LIMIT) output += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const timer = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        // already gone
      }
      resolve({ ok: false, message: `exec probe timed out after ${timeoutMs / 1000} s` });
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, message: `exec probe could not run: ${error.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = output.trim().slice(0, OUTPUT_LIMIT);
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      resolve({ ok: code === 0, message: `exec probe ${how}${text ? `: ${text}` : ''}` });
    });
  });
}

function httpProbe(
  get: NonNullable<Probe['http_get']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeResult> {
  const scheme = get.scheme ?? 'http';
  const host = get.host ?? '127.0.0.1';
  const port = resolvePort(get.port, target.ports);
  const url = `${scheme}://${host}:${port}${get.path ?? '/'}`;
  return new Promise((resolve) => {
    const client = scheme === 'https' ? https : http;
    const request = client.get(url, {
      timeout: timeoutMs,
      headers: {
        'user-agent': 'seer-probe/1',
        ...Object.fromEntries((get.http_headers ?? []).map((h) => [h.name.toLowerCase(), h.value])),
        connection: 'close',
      },
      // Like kubelet: the probe checks that the server answers, not who signed its certificate.
      ...(scheme === 'https' ? { rejectUnauthorized: false } : {}),
      agent: false,
    });
    const timer = setTimeout(
      () => request.destroy(new Error(`timed out after ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    request.on('response', (response) => {
      clearTimeout(timer);
      response.resume();
      request.destroy();
      const status = response.statusCode ?? 0;
      resolve({ ok: status >= 200 && status < 400, message: `GET ${url} answered ${status}` });
    });
    request.on('timeout', () => request.destroy(new Error(`timed out after ${timeoutMs / 1000} s`)));
    request.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, message: `GET ${url} failed: ${error.message}` });
    });
  });
}

function tcpProbe(
  socketProbe: NonNullable<Probe['tcp_socket']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeResult> {
  const host = socketProbe.host ?? '127.0.0.1';
  const port = resolvePort(socketProbe.port, target.ports);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (result: ProbeResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () =>
        finish({ ok: false, message: `connect to ${host}:${port} timed out after ${timeoutMs / 1000} s` }),
      timeoutMs,
    );
    socket.once('connect', () => finish({ ok: true, message: `connected to ${host}:${port}` }));
    socket.once('error', (error) =>
      finish({ ok: false, message: `connect to ${host}:${port} failed: ${error.message}` }),
    );
  });
}

/** Runs a probe once: exec (exit 0), http_get (status 200-399) or tcp_socket (connects). */
export async function runProbe(probe: Probe, target: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = probeTimeoutMs(probe);
  try {
    if (probe.exec && target.unavailable) return { ok: false, message: target.unavailable };
    if (probe.exec) return await execProbe(probe.exec.command, target, timeoutMs);
    if (probe.http_get) return await httpProbe(probe.http_get, target, timeoutMs);
    if (probe.tcp_socket) return await tcpProbe(probe.tcp_socket, target, timeoutMs);
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
  return { ok: false, message: 'probe has no exec, http_get or tcp_socket handler' };
}
