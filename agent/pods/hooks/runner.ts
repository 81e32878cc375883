import { errorMessage } from '../../../kube/errors.js';
import { isPackageError } from '../../../packages/errors.js';
import type { Preparation } from '../pod-status.js';
import {
  PodCannotRun,
  PodNotReady,
  PodStepFailed,
  type HookContext,
  type PodHook,
  type PrestartContext,
} from './hook.js';

/**
 * Why a pod does not run, from the error its prestart failed with: what PackagesReady and Ready say.
 * Undefined for a prestart aborted because the pod is going away.
 */
export function preparationOf(error: unknown, signal?: AbortSignal): Preparation | undefined {
  if (error instanceof PodNotReady || error instanceof PodCannotRun || error instanceof PodStepFailed)
    return error.preparation;
  if (isPackageError(error)) return { reason: error.reason, message: error.message };
  if (signal?.aborted) return undefined;
  return { reason: 'PrepareFailed', message: errorMessage(error) };
}

/** Runs a pod's hooks: prestarts in order, each until it has completed once; stops in reverse. */
export class HookRunner {
  constructor(readonly hooks: readonly PodHook[]) {
    const names = hooks.map((h) => h.name);
    if (new Set(names).size !== names.length) throw new Error(`pod hook names repeat: ${names.join(', ')}`);
  }

  get names(): string[] {
    return this.hooks.map((h) => h.name);
  }

  /**
   * Runs the prestarts not completed yet, in order, recording each one in the pod's record as it
   * completes. When one fails, the entry's `preparing` says why and the error is rethrown; the
   * hooks after it do not run.
   */
  async prestart(context: PrestartContext): Promise<void> {
    const { entry } = context;
    for (const hook of this.hooks) {
      if (entry.record.hooks_done.includes(hook.name)) continue;
      try {
        await hook.prestart?.(context);
      } catch (error) {
        const preparation = preparationOf(error, context.signal);
        if (preparation) entry.preparing = preparation;
        throw error;
      }
      entry.record.hooks_done.push(hook.name);
      await context.save();
    }
    entry.preparing = undefined;
  }

  /** After an agent restart: each completed hook re-attaches to what it left running, in order. */
  async restore(context: HookContext): Promise<void> {
    for (const hook of this.hooks) {
      if (context.entry.record.hooks_done.includes(hook.name)) await hook.restore?.(context);
    }
  }

  /**
   * Runs every hook's stop in reverse order, whatever step the pod reached: each one undoes what its
   * record says was made, if anything. The first failure stops the teardown (and is rethrown), so
   * what later stops remove, the record above all, stays until it is tried again.
   */
  async stop(context: HookContext): Promise<void> {
    for (const hook of [...this.hooks].reverse()) await hook.stop?.(context);
  }
}
