import path from 'node:path';
import { processEnvironment } from './environment.js';
import type { ProcessSpec } from './spec.js';
import { resolveUser, type UserIdentity } from './user.js';

/** Where and as whom a container's processes run: its directory, environment and user. */
export interface ExecutionContext {
  directory: string;
  env: Record<string, string>;
  identity: UserIdentity | undefined;
}

/**
 * The context every process of a container gets, its main process, its one-shot commands and
 * anything run in it on request (exec): the spec's user resolved, its directory, and the spec's
 * environment on the user's base. Rejects with UnknownUserError when the user cannot be used.
 */
export async function executionContext(
  spec: Pick<ProcessSpec, 'directory' | 'env' | 'user'>,
): Promise<ExecutionContext> {
  const identity = spec.user ? await resolveUser(spec.user) : undefined;
  return {
    directory: path.resolve(spec.directory),
    env: processEnvironment(spec.env, identity),
    identity,
  };
}
