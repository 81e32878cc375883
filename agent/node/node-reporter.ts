import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { CONDITION_STATUS, NODE_CONDITION, NODE_PHASE, SEER_API_VERSION } from '../../api/names.js';
import type { NodeEndpoint, SeerNode, SeerNodeStatus } from '../../api/types.js';
import { errorMessage, isAlreadyExists, isNotFound } from '../../kube/errors.js';
import { objectRef } from '../../kube/keys.js';
import type { SeerClient } from '../../kube/seer-client.js';
import type { HostFacts } from './host-facts.js';

export interface NodeReporterOptions {
  client: SeerClient;
  nodeName: string;
  rootDir: string;
  maxPods: number;
  facts: HostFacts;
  agentVersion: string;
  /** The agent's HTTPS endpoint, published for clients. */
  endpoint?: NodeEndpoint;
  logger: Logger;
}

/**
 * Keeps this host's SeerNode: creates it when missing and writes its status (capacity, addresses,
 * versions, the number of pods, a Ready condition) only when something in it changed.
 */
export class NodeReporter {
  private pods = 0;
  private written: SeerNodeStatus | undefined;
  private readySince = new Date().toISOString();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: NodeReporterOptions) {}

  /** Creates the SeerNode if it does not exist and writes the first status. */
  async register(): Promise<void> {
    const { client, nodeName } = this.options;
    try {
      const existing = await client.get('SeerNode', nodeName);
      this.adoptReadySince(existing);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      const node: SeerNode = {
        apiVersion: SEER_API_VERSION,
        kind: 'SeerNode',
        metadata: { name: nodeName },
        spec: {},
      };
      try {
        await client.create('SeerNode', node);
      } catch (createError) {
        if (!isAlreadyExists(createError)) throw createError;
      }
    }
    await this.write();
  }

  /** The number of pods this host runs; the status is rewritten only when it changes. */
  setPodCount(count: number): Promise<void> {
    if (count === this.pods) return this.writing;
    this.pods = count;
    return this.write();
  }

  /** Writes the status if it differs from what was last written (serialized; failures are logged). */
  write(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const status = this.desiredStatus();
      if (isDeepStrictEqual(status, this.written)) return;
      try {
        await this.options.client.patchStatus('SeerNode', objectRef(this.options.nodeName), status);
        this.written = status;
      } catch (error) {
        this.options.logger.warn({ err: errorMessage(error) }, 'could not write the node status');
      }
    });
    return this.writing;
  }

  /** Forgets what was written, so the next write happens even if nothing changed (after an outage). */
  invalidate(): void {
    this.written = undefined;
  }

  private adoptReadySince(node: SeerNode): void {
    const ready = node.status?.conditions?.find((c) => c.type === NODE_CONDITION.Ready);
    if (ready?.status === CONDITION_STATUS.True && ready.last_transition_time) {
      this.readySince = ready.last_transition_time;
    }
  }

  private desiredStatus(): SeerNodeStatus {
    const { facts, maxPods } = this.options;
    const resources = { cpu: facts.cpu, memory: facts.memory, pods: maxPods };
    return {
      phase: NODE_PHASE.Ready,
      capacity: resources,
      allocatable: resources,
      addresses: facts.addresses,
      node_info: {
        hostname: facts.hostname,
        os: facts.os,
        arch: facts.arch,
        kernel_version: facts.kernel_version,
        agent_version: this.options.agentVersion,
      },
      root_dir: this.options.rootDir,
      pods: this.pods,
      // null removes an endpoint an earlier agent published (the status is a merge patch).
      endpoint: this.options.endpoint ?? null,
      conditions: [
        {
          type: NODE_CONDITION.Ready,
          status: CONDITION_STATUS.True,
          reason: 'AgentReady',
          message: 'seer-agent is running and renewing its lease',
          last_transition_time: this.readySince,
        },
      ],
    };
  }
}
