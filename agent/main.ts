#!/usr/bin/env node
import os from 'node:os';
import { createLogger } from '../common/logger.js';
import { runService } from '../common/main.js';
import { startAgent } from './agent.js';
import { loadAgentConfig, USAGE } from './config.js';

process.exitCode = await runService(
  {
    name: 'seer-agent',
    usage: USAGE,
    parse: (argv) => loadAgentConfig(argv, os.hostname().toLowerCase()),
    async start(config) {
      const logger = createLogger('seer-agent', config.log_level);
      const agent = await startAgent(config, logger);
      return {
        async stop() {
          logger.info('stopping; managed processes keep running');
          await agent.stop();
        },
      };
    },
  },
  process.argv.slice(2),
);
