import pino, { type Logger } from 'pino';

/** JSON logs on stderr (stdout stays free for a command's own output). */
export function createLogger(name: string, level = process.env.SEER_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level }, pino.destination(2));
}
