// `npm run crds`: writes crds/*.yaml and helm/seer-operator/crds/*.yaml from api/schema/, and removes
// generated files whose source is gone.

import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GENERATED_MARK, OUTPUT_DIRS, REPO_DIR, generateCrds } from './generate.js';

const files = generateCrds();
for (const [file, text] of files) {
  const target = path.join(REPO_DIR, file);
  let current: string | undefined;
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === text) continue;
  writeFileSync(target, text);
  console.log(`wrote ${file}`);
}
for (const dir of OUTPUT_DIRS) {
  for (const name of readdirSync(path.join(REPO_DIR, dir)).filter((candidate) =>
    candidate.endsWith('.yaml'),
  )) {
    const file = `${dir}/${name}`;
    if (files.has(file)) continue;
    if (readFileSync(path.join(REPO_DIR, file), 'utf8').startsWith(GENERATED_MARK)) {
      rmSync(path.join(REPO_DIR, file));
      console.log(`removed ${file}`);
    }
  }
}
