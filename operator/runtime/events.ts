import type { Logger } from 'pino';
import { errorMessage } from '../../kube/errors.js';
import type { RestClient } from '../../kube/rest.js';
import { microTime } from '../../kube/time.js';

export type EventType = 'Normal' | 'Warning';

let sequence = 0;

function eventSuffix(): string {
  return `${Date.now().toString(16)}${(sequence++ % 4096).toString(16).padStart(3, '0')}${Math.floor(
    Math.random() * 4096,
  )
    .toString(16)
    .padStart(3, '0')}`;
}

/** The object an event is about. */
export interface EventSubject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

/**
 * Writes Kubernetes Events (events.k8s.io/v1) about the objects the operator acts on, so they show in
 * `kubectl describe` and `kubectl get events`. Failures are logged, never thrown: an event is a
 * courtesy, not part of the reconcile.
 */
export class EventRecorder {
  constructor(
    private readonly rest: RestClient,
    private readonly controller: string,
    private readonly instance: string,
    private readonly logger: Logger,
  ) {}

  record(subject: EventSubject, type: EventType, reason: string, note: string, action = reason): void {
    const namespace = subject.metadata.namespace || 'default';
    const now = microTime();
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // As client-go names events: the object's name and a unique hexadecimal suffix.
      metadata: { name: `${subject.metadata.name ?? 'object'}.${eventSuffix()}`, namespace },
      eventTime: now,
      reportingController: this.controller,
      reportingInstance: this.instance,
      action,
      reason,
      note: note.slice(0, 1024),
      type,
      regarding: {
        apiVersion: subject.apiVersion,
        kind: subject.kind,
        name: subject.metadata.name,
        namespace: subject.metadata.namespace,
        uid: subject.metadata.uid,
        resourceVersion: subject.metadata.resourceVersion,
      },
    };
    this.rest
      .request('POST', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`, { body })
      .catch((error) => this.logger.debug({ err: errorMessage(error), reason }, 'could not record an event'));
  }
}
