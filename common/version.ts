import { readFileSync } from 'node:fs';
import { repoPath } from './paths.js';

/** Seer's version, from package.json (what agents publish in their SeerNode status). */
export const SEER_VERSION_STRING: string = (
  JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }
).version;
