import assert from 'node:assert/strict';
import { NODE_LEASE_NAMESPACE } from '../../api/names.js';
import { statusCode } from '../../kube/errors.js';
import { MERGE_PATCH, type RestClient } from '../../kube/rest.js';
import { microTime } from '../../kube/time.js';
import { eventually } from './agent.js';

export const NODE_LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`;

/** Resolves with the HTTP status the request failed with (fails the test if it succeeded). */
export async function refusal(
  what: string,
  request: Promise<unknown>,
): Promise<{ code: number; message: string }> {
  try {
    await request;
  } catch (error) {
    const code = statusCode(error);
    assert.ok(code !== undefined, `${what}: ${String(error)}`);
    return { code, message: String(error) };
  }
  assert.fail(`${what}: was allowed`);
}

export async function refused(what: string, request: Promise<unknown>): Promise<number> {
  return (await refusal(what, request)).code;
}

export async function forbidden(what: string, request: Promise<unknown>): Promise<void> {
  const { code, message } = await refusal(what, request);
  assert.equal(code, 403, `${what}: ${message}`);
}

export function nodeLease(name: string, holder: string) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name },
    spec: { holderIdentity: holder, leaseDurationSeconds: 40, renewTime: microTime() },
  };
}

/**
 * Waits until the node restriction policy refuses a node's credentials (`rest`) a write RBAC allows:
 * a new policy takes effect only once the API server has loaded it. The write is a dry run.
 */
export async function nodeRestrictionInForce(rest: RestClient): Promise<void> {
  await eventually('the node restriction policy in force', async () => {
    try {
      await rest.request('POST', NODE_LEASES, {
        body: nodeLease('seer-node-of-someone-else', 'me'),
        query: { dryRun: 'All' },
      });
    } catch (error) {
      if (statusCode(error) === 403) return true;
      throw error;
    }
    throw new Error('allowed');
  });
}

/** A node's credentials (`rest`) may change neither the SeerNode `other` nor its status. */
export async function assertOtherSeerNodeRefused(rest: RestClient, other: string): Promise<void> {
  const node = `/apis/seer.io/v1alpha1/seernodes/${other}`;
  await forbidden(
    `patch status of SeerNode ${other}`,
    rest.request('PATCH', `${node}/status`, {
      body: { status: { phase: 'NotReady' } },
      contentType: MERGE_PATCH,
    }),
  );
  await forbidden(
    `label SeerNode ${other}`,
    rest.request('PATCH', node, {
      body: { metadata: { labels: { taken: 'over' } } },
      contentType: MERGE_PATCH,
    }),
  );
}
