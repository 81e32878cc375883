import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so equal values give equal text whatever order their
 * keys were written in (objects from the API server come sorted; objects built in code may not).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

/** The first `length` hex characters of the SHA-256 of `text`. */
export function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** A short hex hash of a value, independent of its key order. */
export function hashOf(value: unknown, length: number): string {
  return shortHash(canonicalJson(value), length);
}
