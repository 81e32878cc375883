import { untilStopSignal } from './signals.js';

/** A program's configuration was refused: printed with the usage, exit code 2. */
export class ConfigError extends Error {}

export interface ServiceMain<Config> {
  name: string;
  usage: string;
  parse(argv: string[]): Config | Promise<Config>;
  /** Starts the service; the returned stop() runs on SIGINT or SIGTERM. */
  start(config: Config): Promise<{ stop(): Promise<void> }>;
}

/**
 * The shape of seer-agent and seer-operator: --help, configuration errors as usage (exit 2), run
 * until SIGINT or SIGTERM, then stop cleanly (exit 0).
 */
export async function runService<Config>(service: ServiceMain<Config>, argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(service.usage);
    return 0;
  }
  let config: Config;
  try {
    config = await service.parse(argv);
  } catch (error) {
    // parseArgs throws TypeError for unknown or malformed flags.
    if (error instanceof ConfigError || error instanceof TypeError) {
      console.error(`${service.name}: ${error.message}\n\n${service.usage}`);
      return 2;
    }
    throw error;
  }
  // Listening before start: a SIGTERM while it starts stops the service cleanly once it has started,
  // instead of killing the process half-way.
  const stopRequested = untilStopSignal();
  const running = await service.start(config);
  await stopRequested;
  await running.stop();
  return 0;
}
