import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bridge } from './socket-bridge.js';

/**
 * The first process of a simulated host, started by simulated-host.ts under
 * `unshare --net --mount --uts`: it brings up the host's loopback, names the host, mounts the
 * host's own directory at /seer, and bridges ports through Unix sockets in `sockets`:
 *   outbound: 127.0.0.1:PORT here  ->  sockets/out-PORT.sock  ->  127.0.0.1:PORT outside
 *   inbound:  sockets/in-PORT.sock  ->  127.0.0.1:PORT here
 * It prints "ready" and lives until SIGTERM; everything else on the host enters its namespaces.
 */
export interface HostNamespaceConfig {
  name: string;
  /** Mounted at `mountPoint` inside the host. */
  dir: string;
  mountPoint: string;
  sockets: string;
  outbound: number[];
  inbound: number[];
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as HostNamespaceConfig;
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  writeFileSync('/proc/sys/kernel/hostname', config.name);
  execFileSync('mount', ['--bind', config.dir, config.mountPoint]);
  for (const port of config.outbound) {
    await bridge({ port, host: '127.0.0.1' }, { path: path.join(config.sockets, `out-${port}.sock`) });
  }
  for (const port of config.inbound) {
    await bridge({ path: path.join(config.sockets, `in-${port}.sock`) }, { port, host: '127.0.0.1' });
  }
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write('ready\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
