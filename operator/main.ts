#!/usr/bin/env node
import { createLogger } from '../common/logger.js';
import { ConfigError, parseOperatorArgs, USAGE } from './config.js';
import { startOperator } from './operator.js';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let config;
  try {
    config = parseOperatorArgs(argv);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TypeError) {
      console.error(`seer-operator: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger('seer-operator', config.logLevel);
  // A replica that lost the lease must not act any more: exit, and let the Deployment restart it
  // as a standby.
  const operator = await startOperator(config, logger, () => process.exit(1));
  logger.info({ http: operator.httpPort, identity: config.identity }, 'seer-operator running');
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  await operator.stop();
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
