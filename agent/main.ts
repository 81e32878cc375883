#!/usr/bin/env node
import os from 'node:os';
import { createLogger } from '../common/logger.js';
import { startAgent } from './agent.js';
import { ConfigError, loadAgentConfig, USAGE } from './config.js';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let config;
  try {
    config = await loadAgentConfig(argv, os.hostname().toLowerCase());
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TypeError) {
      console.error(`seer-agent: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger('seer-agent', config.log_level);
  const agent = await startAgent(config, logger);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  logger.info('stopping; managed processes keep running');
  await agent.stop();
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
