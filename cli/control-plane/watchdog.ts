/**
 * Stops a local cluster when the process that owns it dies, however it dies (a test run killed with
 * SIGKILL cannot clean up after itself). Usage: watchdog.js OWNER_PID CLUSTER_DIR
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readClusterState, stopCluster } from './cluster.js';
import { isAlive } from './processes.js';

const [ownerArg, dir] = process.argv.slice(2);
const owner = Number(ownerArg);
if (!Number.isInteger(owner) || !dir) {
  console.error('usage: watchdog.js OWNER_PID CLUSTER_DIR');
  process.exit(2);
}

while (isAlive(owner)) {
  await sleep(500);
  // The owner stopped the cluster itself: nothing left to watch.
  if (!(await readClusterState(dir))) process.exit(0);
}
await stopCluster(dir);
