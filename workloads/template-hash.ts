import { createHash } from 'node:crypto';
import type { PodTemplate } from '../api/types.js';

/** No vowels and no digits that read as vowels, so a hash never spells a word (as Kubernetes does). */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const HASH_LENGTH = 10;

/** The value with what carries no meaning dropped: null, empty objects and empty arrays. */
function meaningful(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) {
    // Positions matter in a list, so an empty element stays (as null) rather than shifting the rest.
    return value.length === 0 ? undefined : value.map((item) => meaningful(item) ?? null);
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value)
      .map(([key, item]) => [key, meaningful(item)] as const)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }
  return value;
}

/** The template as text that is equal for equal templates, whatever the key order or empty fields. */
export function canonicalTemplate(template: PodTemplate | undefined): string {
  return JSON.stringify(meaningful({ metadata: template?.metadata, spec: template?.spec }) ?? {});
}

export function sameTemplate(a: PodTemplate | undefined, b: PodTemplate | undefined): boolean {
  return canonicalTemplate(a) === canonicalTemplate(b);
}

/**
 * The template's hash: 10 characters that fit in a DNS label and a label value, the same for every
 * operator replica and version. A collision count above 0 (bumped when two templates did collide) is
 * mixed in so the next hash differs.
 */
export function templateHash(template: PodTemplate, collisionCount = 0): string {
  const input = canonicalTemplate(template) + (collisionCount > 0 ? `\n${collisionCount}` : '');
  let number = createHash('sha256').update(input).digest().readBigUInt64BE(0);
  let hash = '';
  const base = BigInt(SAFE_ALPHABET.length);
  for (let i = 0; i < HASH_LENGTH; i++) {
    hash += SAFE_ALPHABET[Number(number % base)];
    number /= base;
  }
  return hash;
}
