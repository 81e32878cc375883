import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import yaml from 'js-yaml';
import type { SeerPod } from '../../api/types.js';
import { isAlive } from '../../cli/control-plane/processes.js';
import { eventually, startAgentProcess, type AgentProcess } from '../support/agent.js';
import { makePackage, seerPod, SLEEPER } from '../support/pods.js';

let work: string;
let manifests: string;
let agent: AgentProcess;

before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'seer-agent-manifests-'));
  manifests = path.join(work, 'manifests');
  await mkdir(manifests);
  agent = await startAgentProcess({ nodeName: 'solo', root: path.join(work, 'root'), manifests });
});

after(async () => {
  await agent?.cleanUp();
  if (work) await rm(work, { recursive: true, force: true });
});

async function status(name: string): Promise<SeerPod | undefined> {
  const text = await readFile(path.join(agent.root, 'status', `default_${name}.json`), 'utf8').catch(
    () => '',
  );
  return text ? (JSON.parse(text) as SeerPod) : undefined;
}

test('with --manifests and no cluster, the pods in the files run, report to status files, and stop when removed', async () => {
  const pkg = await makePackage({ 'bin/app': SLEEPER });
  const file = path.join(manifests, 'app.yaml');
  await writeFile(
    file,
    yaml.dump(
      seerPod('static-app', {
        containers: [{ name: 'main', package: pkg.reference, commands: { start: 'bin/app' } }],
      }),
    ),
  );
  const running = await eventually('the static pod running', async () => {
    const p = await status('static-app');
    return p?.status?.phase === 'Running' ? p : undefined;
  });
  assert.equal(running.status?.node_name, 'solo');
  const pid = running.status?.container_statuses?.[0]?.state?.running?.pid ?? 0;
  assert.ok(isAlive(pid));

  await rm(file);
  await eventually('the process stopped', () => !isAlive(pid));
  await eventually(
    'the pod directory removed',
    () => !existsSync(path.join(agent.root, 'pod', 'static-app')),
  );
});
