import { logTail, fileSize } from './log-files.js';
import { describeCommandResult, runCommand, type CommandContext } from './launch.js';

/**
 * The commands at fixed points of a run: `pre_start` before the start (systemd's ExecStartPre),
 * `post_start` once it runs (Kubernetes' postStart), `pre_stop` before the stop sequence (preStop).
 */
export type HookName = 'pre_start' | 'post_start' | 'pre_stop';

/**
 * Runs a hook to its end (killed after `timeoutMs`), its output in the container's log files.
 * Resolves undefined when it exited 0, else a message with its exit and last stderr line.
 */
export async function runHook(
  name: HookName,
  command: string,
  context: CommandContext,
  timeoutMs: number,
): Promise<string | undefined> {
  const stderrOffset = fileSize(context.logs.stderr);
  let result;
  try {
    result = await runCommand(command, context, timeoutMs);
  } catch (error) {
    return `${name} could not run: ${(error as Error).message}`;
  }
  if (!result.timedOut && result.code === 0) return undefined;
  const tail = logTail(context.logs.stderr, stderrOffset);
  const described = describeCommandResult(name, result, timeoutMs);
  return tail ? `${described}: ${tail}` : described;
}
