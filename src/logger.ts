import { pino, type Logger, type LoggerOptions } from 'pino';
import { createRedactor, secretFromTokenFile, secretsFromEnv, type Redactor } from './redact.js';

export type { Logger };

/**
 * Keys whose values never reach a log line. The redactor (src/redact.ts) matches them at
 * any depth and in any spelling (`x-api-key`, `card_id`); pino's own `redact` paths below are
 * a second layer for the shallow cases. Card numbers and agent ids are PII; the rest are
 * credentials.
 */
export const REDACTED_KEYS = [
  'authorization',
  'Authorization',
  'cookie',
  'token',
  'authToken',
  'apiKey',
  'key',
  'password',
  'secret',
  'TARGET_AUTH_TOKEN',
  'TARGET_IMS_CLIENT_SECRET',
  'accessToken',
  'access_token',
  'clientSecret',
  'client_secret',
  'ADMIN_TOKEN',
  'ADMIN_READONLY_TOKEN',
  'INGEST_API_KEYS',
  'REDIS_URL',
  'cardId',
  'agentId',
] as const;

function redactPaths(extra: readonly string[]): string[] {
  const keys = [...REDACTED_KEYS, ...extra];
  // Top level (which also covers child-logger bindings), one and two levels down.
  return keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
}

export interface LoggerSettings {
  level: string;
  /** JSON lines in production; pretty, coloured lines on a terminal in development. */
  pretty: boolean;
  /** More keys to redact (private data fields from the mapping file). */
  redactKeys?: readonly string[];
  /**
   * Secret values to mask wherever they appear in a string (a token echoed in an error
   * message, say). Default: the tokens and API keys in `process.env` and the token in
   * TARGET_AUTH_TOKEN_FILE, so a process is safe without passing them explicitly. Tokens
   * learnt later (a rotated file, the Admin API) are masked too: see `addRuntimeSecret`.
   */
  secretValues?: readonly string[];
  destination?: pino.DestinationStream;
}

/**
 * The process' root logger; workers and jobs take child loggers from it. Every log call runs
 * through the redactor before pino serializes it: secret and PII keys are replaced at any
 * depth, card-like digit runs, bearer/basic credentials, URL passwords and known secret
 * values are masked inside strings (messages and error stacks included).
 */
export function createLogger(settings: LoggerSettings): Logger {
  const redactor = createRedactor({
    keys: [...REDACTED_KEYS, ...(settings.redactKeys ?? [])],
    secretValues: settings.secretValues ?? [...secretsFromEnv(process.env), ...secretFromTokenFile(process.env)],
    serializedKeys: ['req', 'res'],
  });
  const options: LoggerOptions = {
    level: settings.level,
    base: { pid: process.pid },
    redact: { paths: redactPaths(settings.redactKeys ?? []), censor: '[redacted]' },
    // The hook below has already turned errors into redacted plain objects ({ type, message,
    // stack, ... }); pino's serializer would rename their type to "Object". Real Errors (in
    // child bindings, say) still get the standard treatment.
    serializers: { err: (err: unknown) => (err instanceof Error ? pino.stdSerializers.err(err) : err) },
    hooks: {
      logMethod(args, method) {
        method.apply(this, redactArgs(redactor, args));
      },
    },
  };
  if (settings.destination !== undefined) return pino(options, settings.destination);
  if (settings.pretty) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return pino(options);
}

/** What {@link jobLogger} reads from a BullMQ job. */
export interface JobIdentity {
  queueName: string;
  id?: string | undefined;
  attemptsMade: number;
}

/**
 * The child logger of one job attempt: every line carries `queue`, `jobId` and `attempt`
 * (1 for the first run), so one job's lines can be found among many workers'.
 */
export function jobLogger(logger: Logger, job: JobIdentity): Logger {
  return logger.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
}

/**
 * pino's call shapes: `(obj, msg?, ...args)`, `(err, msg?, ...args)` or `(msg, ...args)`.
 * An Error first argument is turned into `{ err }` with its message as the line's message,
 * exactly as pino would, but redacted.
 */
function redactArgs(redactor: Redactor, args: Parameters<pino.LogFn>): Parameters<pino.LogFn> {
  const [first, ...rest] = args as unknown[];
  const tail = rest.map((value) => redactor.value(value));
  if (first instanceof Error) {
    const err = redactor.value(first) as { message?: unknown };
    const message = tail.length > 0 ? tail : [typeof err.message === 'string' ? err.message : 'error'];
    return [{ err }, ...message] as Parameters<pino.LogFn>;
  }
  return [redactor.value(first), ...tail] as Parameters<pino.LogFn>;
}
