import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { builtRegistryBinary } from './control-plane/binaries.js';
import { freePort } from './control-plane/ports.js';

const run = promisify(execFile);

/** Debian's docker-registry is the distribution project's registry, 2.8.x. */
export const DEBIAN_REGISTRY = '/usr/bin/docker-registry';

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where findRegistryBinary looks; the defaults are the real ones, a test passes its own. */
export interface RegistryBinarySources {
  env?: NodeJS.ProcessEnv;
  debian?: string;
  build?: () => Promise<string>;
}

/**
 * The registry program: SEER_REGISTRY_BINARY when set, else Debian's when installed, else distribution v3 built from the Go module proxy into the
 * cache by scripts/build-control-plane.sh, which makes the same choice.
 */
export async function findRegistryBinary({
  env = process.env,
  debian = DEBIAN_REGISTRY,
  build = builtRegistryBinary,
}: RegistryBinarySources = {}): Promise<string> {
  const named = env.SEER_REGISTRY_BINARY;
  if (named) {
    if (await executable(named)) return named;
    throw new Error(`SEER_REGISTRY_BINARY=${named} is not an executable file`);
  }
  if (await executable(debian)) return debian;
  try {
    return await build();
  } catch (error) {
    throw new Error(
      `no OCI registry to run: install Debian's (apt-get install docker-registry) or build one from ` +
        `the Go module proxy (scripts/build-control-plane.sh --registry-only, which needs Go), ` +
        `which failed: ${(error as Error).message}`,
    );
  }
}

// Resolved once per process: the fallback runs a script.
let registryBinary: Promise<string> | undefined;

export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate(s) whose keys sign the tokens. */
  rootCertBundle: string;
}

export interface RegistryOptions {
  /** Basic auth through an htpasswd file (bcrypt, the only kind the registry reads). */
  htpasswd?: { user: string; password: string };
  /** Bearer-token auth against a token server (see token-server.ts). */
  token?: TokenAuthConfig;
}

export interface LocalRegistry {
  /** `127.0.0.1:PORT`, the registry part of a package reference. */
  host: string;
  /** The registry process and its program, for a watchdog that may have to stop it. */
  pid: number;
  program: string;
  /** Its configuration and storage, removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

// A test run that fails or is interrupted still takes its registries down.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

async function answers(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(host.split(':')[1]) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts a distribution registry on a free loopback port with its storage in a temporary directory,
 * and waits until it accepts connections. `stop()` kills it and removes the directory.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<LocalRegistry> {
  registryBinary ??= findRegistryBinary();
  const binary = await registryBinary;
  installExitHook();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'seer-registry-'));
  let auth: Record<string, unknown> | undefined;
  if (options.htpasswd) {
    const { stdout } = await run('htpasswd', [
      '-Bbn',
      options.htpasswd.user,
      options.htpasswd.password,
    ]).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      throw new Error(
        'htpasswd not found: basic auth for the registry needs it (apt-get install apache2-utils)',
      );
    });
    await writeFile(path.join(dir, 'htpasswd'), stdout);
    auth = { htpasswd: { realm: 'seer-test', path: path.join(dir, 'htpasswd') } };
  } else if (options.token) {
    const certFile = path.join(dir, 'token-ca.pem');
    await writeFile(certFile, options.token.rootCertBundle);
    auth = {
      token: {
        realm: options.token.realm,
        service: options.token.service,
        issuer: options.token.issuer,
        rootcertbundle: certFile,
      },
    };
  }

  // Another process may take the free port before the registry binds it; try a few times.
  for (let attempt = 1; ; attempt += 1) {
    const host = `127.0.0.1:${await freePort()}`;
    // Keys that distribution 2.8 (Debian's) and 3.x (the one built from source) both read alike;
    // 3.x's token auth takes the x5c-signed tokens of token-server.ts with `rootcertbundle`.
    const config = {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: path.join(dir, 'data') }, delete: { enabled: true } },
      http: { addr: host, secret: randomBytes(16).toString('hex') },
      ...(auth ? { auth } : {}),
    };
    const configFile = path.join(dir, 'config.yml');
    await writeFile(configFile, yaml.dump(config));
    const child = spawn(binary, ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8192);
    });
    let exited = false;
    const exitedPromise = new Promise<void>((resolve) =>
      child.once('exit', () => {
        exited = true;
        running.delete(child);
        resolve();
      }),
    );
    const deadline = Date.now() + 15_000;
    while (!exited && Date.now() < deadline && !(await answers(host))) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!exited && Date.now() < deadline) {
      return {
        host,
        pid: child.pid ?? 0,
        program: binary,
        dir,
        async stop() {
          if (!exited) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
            await exitedPromise;
            clearTimeout(timer);
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    child.kill('SIGKILL');
    await exitedPromise;
    if (attempt < 3 && /address already in use/.test(stderr)) continue;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${binary} did not start on ${host}:\n${stderr}`);
  }
}
