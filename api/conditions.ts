import type { Condition, ConditionStatus } from './types.js';

/** A condition as a controller computes it, before its transition time is known. */
export interface ConditionUpdate<Type extends string> {
  type: Type;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  observed_generation?: number;
}

/**
 * The condition as it should be written: its last_transition_time moves only when its status does,
 * as Kubernetes conditions do, so it says since when the condition has held.
 */
export function transition<Type extends string>(
  previous: readonly Condition<Type>[] | undefined,
  next: ConditionUpdate<Type>,
  now: Date | string = new Date(),
): Condition<Type> {
  const before = previous?.find((c) => c.type === next.type);
  const since =
    before?.status === next.status && before.last_transition_time
      ? before.last_transition_time
      : typeof now === 'string'
        ? now
        : now.toISOString();
  return { ...next, last_transition_time: since };
}

/** `conditions` with `next` in place of the condition of its type (appended when new). */
export function setCondition<Type extends string>(
  conditions: readonly Condition<Type>[] | undefined,
  next: ConditionUpdate<Type>,
  now: Date | string = new Date(),
): Condition<Type>[] {
  const written = transition(conditions, next, now);
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  if (index === -1) list.push(written);
  else list[index] = written;
  return list;
}
