/**
 * Stops what a process started when it dies, however it dies (a test run or a demo killed with SIGKILL
 * cannot clean up after itself): a local cluster, or with DEMO_DIR the whole demo (see stopDemo).
 * Started in its own session, so neither Ctrl-C nor a closed terminal reaches it.
 * Usage: watchdog.js OWNER_PID CLUSTER_DIR [DEMO_DIR]
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { demoStatePath, stopDemo } from '../demo-cleanup.js';
import { readClusterState, stopCluster } from './cluster.js';
import { isAlive } from './processes.js';

const [ownerArg, dir, demoDir] = process.argv.slice(2);
const owner = Number(ownerArg);
if (!Number.isInteger(owner) || !dir) {
  console.error('usage: watchdog.js OWNER_PID CLUSTER_DIR [DEMO_DIR]');
  process.exit(2);
}

// The owner removes its state once it has stopped everything itself: nothing left to watch then.
const ownerStopped = async () =>
  demoDir ? !existsSync(demoStatePath(demoDir)) : !(await readClusterState(dir));
while (isAlive(owner)) {
  await sleep(500);
  if (await ownerStopped()) process.exit(0);
}
const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
log(`process ${owner} is gone: stopping what it started`);
if (demoDir) await stopDemo(demoDir, log);
else await stopCluster(dir);
