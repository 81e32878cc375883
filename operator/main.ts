#!/usr/bin/env node
import { createLogger } from '../common/logger.js';
import { runService } from '../common/main.js';
import { parseOperatorArgs, USAGE } from './config.js';
import { startOperator } from './operator.js';

process.exitCode = await runService(
  {
    name: 'seer-operator',
    usage: USAGE,
    parse: parseOperatorArgs,
    async start(config) {
      const logger = createLogger('seer-operator', config.logLevel);
      // A replica that lost the lease must not act any more: exit, and let the Deployment restart it
      // as a standby.
      const operator = await startOperator(config, logger, () => process.exit(1));
      logger.info({ http: operator.httpPort, identity: config.identity }, 'seer-operator running');
      return operator;
    },
  },
  process.argv.slice(2),
);
