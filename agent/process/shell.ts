/** Every command runs as `/bin/sh -c <command>` in the container directory. */
export const SHELL = '/bin/sh';

// Anything beyond one simple command (lists, pipes, background jobs, compound commands) keeps the shell.
const CONTROL_OPERATORS = /[;&|\n]/;
const STARTS_COMPOUND =
  /^(?:[({!]|(?:if|then|else|elif|fi|do|done|case|esac|while|until|for|function|select|time)(?:\s|$)|\[\[)/;
// Builtins that `exec` cannot run.
const STARTS_BUILTIN =
  /^(?:cd|export|set|unset|eval|source|\.|trap|wait|exit|read|ulimit|umask|alias|readonly|shift)(?:\s|$)/;
const LEADING_ASSIGNMENTS = /^(?:[A-Za-z_][A-Za-z0-9_]*=(?:'[^']*'|"(?:[^"\\]|\\.)*"|[^\s'"])*(?:\s+|$))+/;

/**
 * The script that runs a foreground start command. A simple command is prefixed with `exec` (after
 * any leading `VAR=value` words) so the supervised pid is the program itself, not a shell: signals
 * reach it directly and its exit status is the container's. Anything else runs under the shell,
 * which then is the supervised process (`execs` false).
 */
export function foregroundScript(command: string): { script: string; execs: boolean } {
  const trimmed = command.trim();
  if (CONTROL_OPERATORS.test(trimmed) || STARTS_COMPOUND.test(trimmed))
    return { script: trimmed, execs: false };
  const assignments = LEADING_ASSIGNMENTS.exec(trimmed)?.[0] ?? '';
  const rest = trimmed.slice(assignments.length);
  if (rest === '' || STARTS_BUILTIN.test(rest)) return { script: trimmed, execs: false };
  if (/^exec(?:\s|$)/.test(rest)) return { script: trimmed, execs: true };
  return { script: `${assignments}exec ${rest}`, execs: true };
}
