/** One `seer` sub-command: `seer NAME ARGS...`. */
export interface Command {
  name: string;
  summary: string;
  run(args: string[]): Promise<void>;
}

/** Wrong arguments: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}
