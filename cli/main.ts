#!/usr/bin/env node
import { UsageError, type Command } from './command.js';
import { appSetCommand } from './commands/appset.js';
import { clusterCommand } from './commands/cluster.js';
import { convertCommand } from './commands/convert.js';
import { demoCommand } from './commands/demo.js';
import { execCommand } from './commands/exec.js';
import { logsCommand } from './commands/logs.js';
import { nodeCommand } from './commands/node.js';
import { packageCommand } from './commands/package.js';
import { rolloutCommand } from './commands/rollout.js';

const commands: Command[] = [
  clusterCommand,
  packageCommand,
  nodeCommand,
  rolloutCommand,
  appSetCommand,
  logsCommand,
  execCommand,
  convertCommand,
  demoCommand,
];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: seer COMMAND [ARGS]',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(usage());
    return name === undefined || name === 'help' || name === '--help' ? 0 : 2;
  }
  try {
    return (await command.run(args)) ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      return 2;
    }
    console.error(`seer ${name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
