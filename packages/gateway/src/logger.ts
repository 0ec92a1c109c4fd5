/**
 * @module
 * The gateway's logger: pino, pretty on a terminal, JSON lines otherwise. Secrets never reach
 * it: URLs are redacted and config secrets are not logged.
 */
import { maskSecrets, redactText, redact as redactValue } from '@bifrost/core';
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
  // Every line goes through core's one redaction: the message text (a URL in an error message)
  // and the logged object (secret fields, URLs at any depth).
  // And every value a secret reference resolved to is masked wherever it appears in a line (bindings too).
  const hooks = {
    streamWrite: (line: string) => maskSecrets(line),
    logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
      method.apply(
        this,
        args.map((a) => (typeof a === 'string' ? redactText(a) : a)),
      );
    },
  };
  const formatters = { log: (o: Record<string, unknown>) => redactValue(o) as Record<string, unknown> };
  if (pretty) {
    return pino({
      level,
      redact,
      hooks,
      formatters,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', destination: options.destination ?? 1 } },
    });
  }
  return pino({ level, redact, hooks, formatters }, pino.destination({ dest: options.destination ?? 1, sync: false }));
}
