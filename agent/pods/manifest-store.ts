import { EventEmitter } from 'node:events';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import type { Logger } from 'pino';
import { SEER_API_VERSION } from '../../api/names.js';
import type { SeerPod, SeerPodStatus } from '../../api/types.js';
import { objectKey } from '../../kube/keys.js';
import type { PodStore, StatusPatch } from './pod-store.js';

const POLL_MS = 1000;

/**
 * Pods from a directory of YAML files, with no cluster at all (like kubelet's static pods): every
 * SeerPod in DIR/*.yaml runs on this host; removing it from the files stops it. Status is written to
 * STATUS_DIR/{namespace}_{name}.json for people and scripts to read.
 */
export class ManifestPodStore extends EventEmitter<{ changed: [string] }> implements PodStore {
  private pods = new Map<string, SeerPod>();
  /** The status last written per pod, which the next merge patch applies to. */
  private readonly statuses = new Map<string, SeerPodStatus>();
  private timer: NodeJS.Timeout | undefined;
  private lastText = '';

  constructor(
    private readonly dir: string,
    private readonly statusDir: string,
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {
    super();
  }

  async start(): Promise<void> {
    await this.scan();
    this.timer = setInterval(() => void this.scan(), POLL_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  get(key: string): SeerPod | undefined {
    return this.pods.get(key);
  }

  list(): SeerPod[] {
    return [...this.pods.values()];
  }

  async read(key: string): Promise<SeerPod | undefined> {
    return this.pods.get(key);
  }

  // Files have no versions: a write never conflicts.
  async writeStatus(pod: SeerPod, patch: StatusPatch): Promise<SeerPod> {
    const key = objectKey(pod);
    const status = Object.fromEntries(
      Object.entries({ ...this.statuses.get(key), ...patch }).filter(([, value]) => value !== null),
    ) as SeerPodStatus;
    this.statuses.set(key, status);
    await mkdir(this.statusDir, { recursive: true });
    const file = path.join(this.statusDir, `${pod.metadata.namespace}_${pod.metadata.name}.json`);
    const written = { ...pod, status };
    await writeFile(`${file}.tmp`, JSON.stringify(written, null, 2));
    await rename(`${file}.tmp`, file);
    return written;
  }

  // Finalizers exist to hold objects in the API server; files need none.
  async addFinalizer(): Promise<void> {}
  async removeFinalizer(): Promise<void> {}

  private async scan(): Promise<void> {
    let text = '';
    const found = new Map<string, SeerPod>();
    try {
      const files = (await readdir(this.dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
      for (const file of files) {
        const content = await readFile(path.join(this.dir, file), 'utf8');
        text += `${file}\n${content}\n`;
        for (const doc of yaml.loadAll(content)) {
          const pod = this.asPod(doc, file);
          if (pod) found.set(objectKey(pod), pod);
        }
      }
    } catch (error) {
      this.logger.warn({ err: String(error), dir: this.dir }, 'could not read the manifests');
      return;
    }
    if (text === this.lastText) return;
    this.lastText = text;
    const previous = this.pods;
    this.pods = found;
    for (const key of previous.keys()) if (!found.has(key)) this.statuses.delete(key);
    for (const key of new Set([...previous.keys(), ...found.keys()])) {
      if (JSON.stringify(previous.get(key)) !== JSON.stringify(found.get(key))) this.emit('changed', key);
    }
  }

  /** A SeerPod from one YAML document, bound to this node, with a uid stable across scans. */
  private asPod(doc: unknown, file: string): SeerPod | undefined {
    const object = doc as Partial<SeerPod> | null;
    if (
      !object ||
      object.kind !== 'SeerPod' ||
      object.apiVersion !== SEER_API_VERSION ||
      !object.metadata?.name
    ) {
      if (object) this.logger.warn({ file }, 'skipping a document that is not a seer.io/v1alpha1 SeerPod');
      return undefined;
    }
    const namespace = object.metadata.namespace ?? 'default';
    return {
      ...(object as SeerPod),
      metadata: {
        ...object.metadata,
        namespace,
        uid: object.metadata.uid ?? `manifest:${namespace}/${object.metadata.name}`,
        generation: 1,
      },
      spec: { ...(object.spec as SeerPod['spec']), node_name: this.nodeName },
    };
  }
}
