import { Refusal } from './auth.js';
import { BadQuery } from './logs.js';

/** The roots a container's log files are listed under, by the name that prefixes their paths. */
export type LogRootName = 'container' | 'app';

export interface LogFilePath {
  root: LogRootName;
  /** Below the root, each a plain name: never empty, `.`, `..`, or holding a slash. */
  segments: string[];
}

const ROOTS: readonly string[] = ['container', 'app'];

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadQuery(`malformed percent-encoding in ${JSON.stringify(segment)}`);
  }
}

/**
 * Refuses a request path with `.` or `..` segments, plain or percent-encoded, before URL parsing
 * would resolve them (and so reach another route, or another file, than the one asked for).
 */
export function refuseDotSegments(rawPath: string): void {
  // WHATWG URLs treat a backslash as a slash in https paths.
  for (const segment of rawPath.split(/[/\\]/)) {
    const name = decoded(segment);
    if (name === '.' || name === '..') throw new BadQuery(`path segments . and .. are not allowed`);
  }
}

/** A log file's path as a request names it (`container/logs/app.log`), still percent-encoded. */
export function parseLogFilePath(encoded: string): LogFilePath {
  if (encoded.startsWith('/')) throw new BadQuery('a log file path is relative to its root, not absolute');
  const [root = '', ...rest] = encoded.split('/').map(decoded);
  if (!ROOTS.includes(root))
    throw new Refusal(404, `log file paths begin with container/ or app/, not ${JSON.stringify(root)}`);
  if (rest.length === 0) throw new BadQuery(`give a file under ${root}/`);
  for (const segment of rest) {
    if (segment === '' || segment === '.' || segment === '..')
      throw new BadQuery(`log file paths have no empty, . or .. segments`);
    if (/[/\\\0]/.test(segment))
      throw new BadQuery(`log file path segments may not hold a slash, backslash or NUL`);
  }
  return { root: root as LogRootName, segments: rest };
}
