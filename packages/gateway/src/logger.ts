/**
 * @module
 * The gateway's logger: pino, pretty on a terminal, JSON lines otherwise. Secrets never reach
 * it: URLs are redacted and config secrets are not logged.
 */
import { maskSecrets } from '@bifrost/core';
import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * A pino logger: pretty when stdout is a TTY (or `pretty: true`), JSON otherwise.
 * @example const log = createLogger({ level: 'info' })
 */
export function createLogger(options: { level?: string; pretty?: boolean; destination?: number | string } = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const level = options.level ?? process.env.BIFROST_LOG_LEVEL ?? 'info';
  const redact = { paths: ['password', '*.password', 'token', '*.token', 'key', '*.key', 'sas', '*.sas'], censor: '***' };
  // Every value a secret reference resolved to is masked wherever it appears in a line (a message, an error).
  const hooks = { streamWrite: (line: string) => maskSecrets(line) };
  if (pretty) {
    return pino({
      level,
      redact,
      hooks,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', destination: options.destination ?? 1 } },
    });
  }
  return pino({ level, redact, hooks }, pino.destination({ dest: options.destination ?? 1, sync: false }));
}
