/** One `seer` sub-command: `seer NAME ARGS...`. */
export interface Command {
  name: string;
  summary: string;
  /** Resolves with the exit code, when not 0. */
  run(args: string[]): Promise<void | number>;
}

/** Wrong arguments: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}
