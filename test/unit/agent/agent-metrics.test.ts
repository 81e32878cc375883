import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentMetrics, type SupervisedContainer } from '../../../agent/metrics/agent-metrics.js';
import type { TreeUsage } from '../../../agent/process/process-tree.js';

const web: TreeUsage = {
  processes: 3,
  cpuSeconds: 12.5,
  residentBytes: 4096 * 1024,
  openFds: 17,
  startTimeSeconds: 1_700_000_000.25,
};

function metricsOf(containers: () => SupervisedContainer[]): AgentMetrics {
  return new AgentMetrics({
    containers,
    packageCache: async () => ({ packages: 2, bytes: 123456 }),
    processUsage: (pids) => new Map(pids.filter((pid) => pid === 42).map((pid) => [pid, web])),
  });
}

const series = (text: string, name: string) =>
  text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));

test('each container has its series, labelled by namespace, pod and container; the host its cache', async () => {
  const text = await metricsOf(() => [
    { namespace: 'shop', pod: 'web-1', container: 'nginx', pid: 42, restarts: 2 },
    { namespace: 'shop', pod: 'web-1', container: 'waiting', restarts: 5 },
  ]).render();
  const labels = '{namespace="shop",pod="web-1",container="nginx"}';
  assert.deepEqual(series(text, 'seer_container_cpu_seconds_total'), [
    `seer_container_cpu_seconds_total${labels} 12.5`,
  ]);
  assert.deepEqual(series(text, 'seer_container_memory_resident_bytes'), [
    `seer_container_memory_resident_bytes${labels} 4194304`,
  ]);
  assert.deepEqual(series(text, 'seer_container_open_fds'), [`seer_container_open_fds${labels} 17`]);
  assert.deepEqual(series(text, 'seer_container_processes'), [`seer_container_processes${labels} 3`]);
  assert.deepEqual(series(text, 'seer_container_start_time_seconds'), [
    `seer_container_start_time_seconds${labels} 1700000000.25`,
  ]);
  // A container without a running process still has its restarts, and nothing else.
  assert.deepEqual(series(text, 'seer_container_restarts_total'), [
    `seer_container_restarts_total${labels} 2`,
    'seer_container_restarts_total{namespace="shop",pod="web-1",container="waiting"} 5',
  ]);
  assert.deepEqual(series(text, 'seer_package_cache_bytes'), ['seer_package_cache_bytes 123456']);
  assert.deepEqual(series(text, 'seer_package_cache_packages'), ['seer_package_cache_packages 2']);
  assert.match(text, /^# TYPE seer_container_cpu_seconds_total counter$/m);
  assert.match(text, /^# TYPE seer_container_memory_resident_bytes gauge$/m);
  // The agent's own process, from the registry of this agent.
  assert.match(text, /^process_resident_memory_bytes \d+/m);
  assert.match(text, /^nodejs_eventloop_lag_seconds /m);
});

test('a container gone since the last scrape has no series left; each scrape reads afresh', async () => {
  let containers: SupervisedContainer[] = [
    { namespace: 'shop', pod: 'web-1', container: 'nginx', pid: 42, restarts: 0 },
  ];
  const metrics = metricsOf(() => containers);
  assert.match(await metrics.render(), /pod="web-1"/);
  containers = [{ namespace: 'shop', pod: 'web-2', container: 'nginx', pid: 42, restarts: 1 }];
  const text = await metrics.render();
  assert.doesNotMatch(text, /pod="web-1"/);
  assert.deepEqual(series(text, 'seer_container_restarts_total'), [
    'seer_container_restarts_total{namespace="shop",pod="web-2",container="nginx"} 1',
  ]);
});

test('two agents in one process keep their metrics apart', async () => {
  const a = metricsOf(() => [{ namespace: 'a', pod: 'p', container: 'c', restarts: 1 }]);
  const b = metricsOf(() => []);
  await a.render();
  assert.doesNotMatch(await b.render(), /namespace="a"/);
});
