import { z } from 'zod';

/**
 * Every setting comes from the environment, validated once at start by {@link loadConfig}.
 * One line per variable says what it is for and its default.
 */
const positiveInt = (name: string, fallback: number) =>
  z.coerce
    .number({ error: `${name}: expected a whole number` })
    .int(`${name}: expected a whole number`)
    .positive(`${name}: must be greater than 0`)
    .default(fallback);

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const ApiKeysSchema = z
  .string()
  .default('')
  .transform((raw, ctx) => {
    const keys: Array<{ source: string; key: string }> = [];
    for (const entry of raw.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
      const colon = entry.indexOf(':');
      const source = colon > 0 ? entry.slice(0, colon) : '';
      const key = colon > 0 ? entry.slice(colon + 1) : '';
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(source) || key.length < 16) {
        // Never echo the entry: it holds a secret.
        ctx.addIssue({
          code: 'custom',
          message: `entry ${keys.length + 1} must be source:key with a source of [A-Za-z0-9_.-] and a key of at least 16 characters`,
        });
        continue;
      }
      keys.push({ source, key });
    }
    return keys;
  });

export const EnvSchema = z.object({
  /** Deployment kind; `production` refuses to run against the built-in simulator. */
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** Redis for queues and the visitor store. */
  REDIS_URL: z.url({ error: 'expected a redis:// or rediss:// URL' }).default('redis://127.0.0.1:6379'),
  /** Prefix of every queue and key of this pipeline; it becomes a Redis Cluster hash tag. */
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'expected 1-32 characters of [A-Za-z0-9_-]').default('ti'),
  /** Adobe Target client code; unset means deliver to the built-in simulator. */
  TARGET_CLIENT_CODE: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a Target client code like "acmecorp"').optional(),
  /** Base URL of Target's edge; default https://<client>.tt.omtrdc.net. */
  TARGET_BASE_URL: z.url({ error: 'expected an http(s) URL' }).optional(),
  /** Profile API authentication token (Bearer), when "Require Authentication" is on. */
  TARGET_AUTH_TOKEN: z.string().min(1).optional(),
  /** Per-request timeout towards Target. */
  TARGET_TIMEOUT_MS: positiveInt('TARGET_TIMEOUT_MS', 10_000),
  /** Keep-alive connections towards Target per process. */
  TARGET_CONNECTIONS: positiveInt('TARGET_CONNECTIONS', 32),
  /** HTTP port for intake, health, metrics and the dashboard. */
  PORT: z.coerce.number().int().min(0).max(65535, 'expected a port 0-65535').default(8080),
  /** Address the HTTP server binds. */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Largest intake request body; bigger ones get 413. */
  INTAKE_BODY_LIMIT_BYTES: positiveInt('INTAKE_BODY_LIMIT_BYTES', 5 * 1024 * 1024),
  /** Intake credentials: `source:key,source:key`. */
  INGEST_API_KEYS: ApiKeysSchema,
  /** Bearer token for /admin routes and the dashboard. */
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** JSON mapping file that extends or replaces the default event mapping. */
  MAPPING_FILE: z.string().min(1).optional(),
  /** A visitor is delivered this long after its first pending change. */
  COALESCE_WINDOW_MS: positiveInt('COALESCE_WINDOW_MS', 5_000),
  /** Upper bound on how long a pending change may wait, also while an earlier delivery is in flight. */
  COALESCE_MAX_WAIT_MS: positiveInt('COALESCE_MAX_WAIT_MS', 60_000),
  /** How often the flusher looks for due visitors. */
  FLUSH_INTERVAL_MS: positiveInt('FLUSH_INTERVAL_MS', 500),
  /** Most visitors one flush claims (and one delivery job carries). */
  FLUSH_BATCH_SIZE: positiveInt('FLUSH_BATCH_SIZE', 200),
  /** How long a claimed visitor stays with its flusher before another may take it back. */
  CLAIM_LEASE_MS: positiveInt('CLAIM_LEASE_MS', 60_000),
  /** `auto` picks single or bulk per flush; `single`/`bulk` force one API. */
  DELIVERY_MODE: z.enum(['auto', 'single', 'bulk'], { error: 'expected auto, single or bulk' }).default('auto'),
  /** Single Profile Update calls allowed per rolling 24 hours, across all processes. */
  SINGLE_DAILY_BUDGET: positiveInt('SINGLE_DAILY_BUDGET', 1_000_000),
  /** Event ids are remembered per source this long to drop resends. */
  DEDUPE_WINDOW_MS: positiveInt('DEDUPE_WINDOW_MS', 7 * 24 * 3600 * 1000),
  /** How long the event time of the value Target holds is remembered per visitor and attribute. */
  DELIVERED_RETENTION_MS: positiveInt('DELIVERED_RETENTION_MS', 30 * 24 * 3600 * 1000),
  /** Longest attribute value accepted. */
  MAX_VALUE_LENGTH: positiveInt('MAX_VALUE_LENGTH', 256),
  /** Parallel jobs per worker process. */
  WORKER_CONCURRENCY: positiveInt('WORKER_CONCURRENCY', 8),
  /** Port of the built-in Target simulator when TARGET_CLIENT_CODE is unset (npm start). */
  SIMULATOR_PORT: z.coerce.number().int().min(0).max(65535, 'expected a port 0-65535').default(8090),
  /** Where a private redis-server keeps its append-only file. */
  DATA_DIR: z.string().min(1).default('.data'),
  /** Start a private redis-server when none answers at REDIS_URL (development only). */
  START_LOCAL_REDIS: booleanFlag.default(true),
  /** pino level. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = z.infer<typeof EnvSchema>;

/** The validated configuration every part of the process reads. */
export interface Config extends Omit<Env, 'TARGET_BASE_URL'> {
  /** Target base URL, or undefined when the built-in simulator is used. */
  TARGET_BASE_URL: string | undefined;
  /** True when no TARGET_CLIENT_CODE is set and deliveries go to the built-in simulator. */
  useSimulator: boolean;
  /** Client code used on the wire (the simulator's when useSimulator). */
  clientCode: string;
}

export const SIMULATOR_CLIENT_CODE = 'simulator';

/** Raised by {@link loadConfig}; `problems` names variables, never secret values. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment; pure: same input, same output, no IO. Throws ConfigError. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Empty strings mean "unset", as in docker-compose files with `VAR=`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const variable = issue.path.join('.');
      const message = issue.message.startsWith(`${variable}:`) ? issue.message.slice(variable.length + 1).trim() : issue.message;
      problems.push(`${variable}: ${message}`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  if (e.COALESCE_MAX_WAIT_MS < e.COALESCE_WINDOW_MS) {
    problems.push('COALESCE_MAX_WAIT_MS: must be at least COALESCE_WINDOW_MS');
  }
  if (e.CLAIM_LEASE_MS < e.TARGET_TIMEOUT_MS * 2) {
    problems.push('CLAIM_LEASE_MS: must be at least twice TARGET_TIMEOUT_MS so a live delivery keeps its claim');
  }
  const useSimulator = e.TARGET_CLIENT_CODE === undefined;
  if (useSimulator && e.NODE_ENV === 'production') {
    problems.push('TARGET_CLIENT_CODE: required when NODE_ENV=production (the built-in simulator is for development)');
  }
  if (e.NODE_ENV === 'production' && e.INGEST_API_KEYS.length === 0) {
    problems.push('INGEST_API_KEYS: required when NODE_ENV=production');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const clientCode = e.TARGET_CLIENT_CODE ?? SIMULATOR_CLIENT_CODE;
  const baseUrl = e.TARGET_BASE_URL ?? (useSimulator ? undefined : `https://${clientCode}.tt.omtrdc.net`);
  return { ...e, TARGET_BASE_URL: baseUrl?.replace(/\/+$/, ''), useSimulator, clientCode };
}
