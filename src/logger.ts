import { pino, type Logger, type LoggerOptions } from 'pino';
import { createRedactionPolicy, type RedactionPolicy, type Redactor } from './redact.js';

export type { Logger };

/** pino's own `redact` paths: a second layer for the shallow cases, top level (child bindings too), one and two levels down. */
function redactPaths(keys: readonly string[]): string[] {
  return keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
}

export interface LoggerSettings {
  level: string;
  /** JSON lines in production; pretty, coloured lines on a terminal in development. */
  pretty: boolean;
  /**
   * The process' redaction policy (src/redact.ts), built once from its config and mapping:
   * what it masks in job views and dead letters, it masks in log lines. Without one, a
   * policy is built from `redactKeys`, `secretValues` and the built-in keys.
   */
  redaction?: RedactionPolicy;
  /** Without `redaction`: more keys to redact (private data fields). */
  redactKeys?: readonly string[];
  /**
   * Without `redaction`: secret values to mask wherever they appear in a string. Default: the
   * tokens and API keys in `process.env` and the token in TARGET_AUTH_TOKEN_FILE. Tokens
   * learnt later (a rotated file, the Admin API) are masked too: see `addRuntimeSecret`.
   */
  secretValues?: readonly string[];
  destination?: pino.DestinationStream;
}

/**
 * The process' root logger; workers and jobs take child loggers from it. Every log call runs
 * through the redaction policy before pino serializes it: secret keys and private fields are
 * replaced at any depth; card-like digit runs, bearer/basic credentials, URL passwords and
 * tokens and known secret values are masked inside strings (messages and stacks included).
 */
export function createLogger(settings: LoggerSettings): Logger {
  const redactor =
    settings.redaction ??
    createRedactionPolicy({
      privateFields: settings.redactKeys ?? [],
      // Explicit secret values replace the environment's (a test's logger, say).
      ...(settings.secretValues !== undefined ? { env: {}, secretValues: settings.secretValues } : {}),
    });
  const options: LoggerOptions = {
    level: settings.level,
    base: { pid: process.pid },
    redact: { paths: redactPaths(redactor.keys), censor: '[redacted]' },
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
