import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Keys whose values never reach a log line, wherever they sit in the logged object.
 * Card numbers and agent ids are PII; the rest are credentials.
 */
export const REDACTED_KEYS = [
  'authorization',
  'Authorization',
  'token',
  'authToken',
  'apiKey',
  'key',
  'password',
  'secret',
  'TARGET_AUTH_TOKEN',
  'ADMIN_TOKEN',
  'INGEST_API_KEYS',
  'REDIS_URL',
  'cardId',
  'agentId',
] as const;

function redactPaths(extra: readonly string[]): string[] {
  const keys = [...REDACTED_KEYS, ...extra];
  // Top level, one level down and two levels down (e.g. event.data.cardId, req.headers.authorization).
  return keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
}

export interface LoggerSettings {
  level: string;
  /** JSON lines in production; pretty, coloured lines on a terminal in development. */
  pretty: boolean;
  /** More keys to redact (private data fields from the mapping file). */
  redactKeys?: readonly string[];
  destination?: pino.DestinationStream;
}

/** The process' root logger; workers and jobs take child loggers from it. */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: { pid: process.pid },
    redact: { paths: redactPaths(settings.redactKeys ?? []), censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
  };
  if (settings.destination !== undefined) return pino(options, settings.destination);
  if (settings.pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(options);
}
