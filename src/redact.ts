import { readFileSync } from 'node:fs';
import { privateDataFields, type CompiledMapping, type MappingSpec } from './events/index.js';

/**
 * The one redaction policy: nothing secret or private leaves the process in clear, whatever
 * the output — log lines, the dashboard's job views, the dead-letter routes and `dlq` CLI, the
 * import rejects file. {@link createRedactionPolicy} builds it once per process from the
 * config (the secrets) and the mapping (the private fields); every output takes that object
 * (on HttpContext for route plugins). Two nets, because either alone leaks:
 * - by key: values under secret keys (`authorization`, `token`, `x-api-key`, …) and under the
 *   private data fields of the mapping (`cardId`, `agentId`, a mapping file's `email`…) are
 *   replaced at any depth, whatever the spelling (case, `-`, `_`);
 * - by content: inside every string, card-like digit runs (13-19 digits, spaces or dashes
 *   allowed), `Bearer`/`Basic` credentials, passwords in URLs (`user:pass@host`), token query
 *   parameters (`?access_token=…`) and known secret values are masked, so an error message
 *   that quotes a card number or a token is safe too.
 * The arguments of a Redis command attached to an ioredis error (`err.command.args`) are
 * dropped whole: AUTH and HELLO carry the password there.
 * Numbers are left alone: 13-digit millisecond timestamps are everywhere in logs, and a
 * card number sent as a JSON number sits under a private key anyway.
 */

export const REDACTED = '[redacted]';
export const REDACTED_NUMBER = '[redacted-number]';

/** Normalized key fragments that mark a secret wherever they occur in a key name. */
const SECRET_KEY_PARTS = ['token', 'secret', 'password', 'passwd', 'apikey', 'authorization', 'cookie', 'credential'];

/**
 * 13 or more digits, single spaces or dashes between: a card number, masked whole however
 * long the run (a cap at 19 digits masked the first part of `1796643402585 4111 1111 1111
 * 1111` and showed the card's last 12). Not Adobe's mboxPC ids (`1368007744041-575948.01_00`),
 * which have as many digits and must stay readable in the lineage and the console. The first
 * alternative takes a Target batch id whole and leaves it readable ({@link keepsDigits}).
 */
const CARD_LIKE =
  /\b([A-Za-z][A-Za-z0-9]*-[1-3]\d{12}-\d{1,12})(?![\d-])|(?<!\d)(?!\d{13}-\d{6}\.\d{2}_\d{2})\d(?:[ -]?\d){12,}(?!\d)/g;

/**
 * Digit runs left readable: a Target batch id (`<client>-<epoch ms>-<n>`, which the operator
 * quotes to Adobe) and an epoch-ms time alone (exactly 13 digits starting with 1–3: 2001 to
 * 2065). Neither is a card number: the only 13-digit card numbers are Visa's, which start
 * with 4 (ISO/IEC 7812 issuer numbers), and no card is written as 13 digits, a dash and the
 * rest. Every other run stays masked, Luhn-valid or not: a Luhn check let cards with digits
 * around them through (a year before, a CVV after).
 */
function keepsDigits(match: string, batchId: string | undefined): boolean {
  return batchId !== undefined || /^[1-3]\d{12}$/.test(match);
}
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi;
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi;
/** Query parameters that carry credentials: `?access_token=…`, `&sig=…`, `&api_key=…`. */
const URL_TOKEN_PARAM =
  /([?&](?:access_token|id_token|refresh_token|token|api[_-]?key|key|client_secret|secret|password|passwd|pwd|sig|signature|auth)=)[^&#\s"'<>()[\]]+/gi;
/** Deeper structures are cut: log objects are ids and counts, not documents. */
const MAX_DEPTH = 8;

export interface RedactorSettings {
  /** Keys to redact (any spelling); PII fields of the mapping go here too. */
  keys: readonly string[];
  /** Exact secret values to mask inside strings; values under 8 characters are ignored. */
  secretValues?: readonly string[];
  /**
   * Keys whose class instances are left for a pino serializer (fastify logs `{ req, res }`,
   * and its serializers pick method, url and status, never headers). Plain objects under
   * them are still redacted.
   */
  serializedKeys?: readonly string[];
}

/** A configured redactor; `value()` returns a redacted copy, never mutating its input. */
export interface Redactor {
  value(input: unknown): unknown;
  text(input: string): string;
}

function normalize(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * Secrets learnt while the process runs (a profile token read from TARGET_AUTH_TOKEN_FILE or
 * from Adobe's Admin API, an IMS access token): every redactor masks them from the moment
 * they are added, in addition to its own `secretValues`. The most recent
 * {@link MAX_RUNTIME_SECRETS} are kept, so a token rotated away stays masked for a while.
 */
const runtimeSecrets: string[] = [];
let runtimeVersion = 0;
const MAX_RUNTIME_SECRETS = 32;

/** Masks `value` in every log line and redacted view from now on (values under 8 characters are ignored). */
export function addRuntimeSecret(value: string): void {
  if (value.length < 8) return;
  const at = runtimeSecrets.indexOf(value);
  if (at >= 0) runtimeSecrets.splice(at, 1);
  runtimeSecrets.push(value);
  if (runtimeSecrets.length > MAX_RUNTIME_SECRETS) runtimeSecrets.shift();
  runtimeVersion += 1;
}

/** Builds a redactor for a set of keys and known secret values (plus the runtime secrets). */
export function createRedactor(settings: RedactorSettings): Redactor {
  const exact = new Set(settings.keys.map(normalize));
  const serialized = new Set(settings.serializedKeys ?? []);
  const own = [...new Set(settings.secretValues ?? [])].filter((s) => s.length >= 8);
  // Longest first, so a key that contains a shorter secret is masked whole.
  const sorted = (values: string[]): string[] => [...new Set(values)].sort((a, b) => b.length - a.length);
  let secrets = sorted([...own, ...runtimeSecrets]);
  let secretsVersion = runtimeVersion;
  const isSecretKey = (key: string): boolean => {
    const n = normalize(key);
    return exact.has(n) || SECRET_KEY_PARTS.some((part) => n.includes(part));
  };
  const text = (input: string): string => {
    if (secretsVersion !== runtimeVersion) {
      secrets = sorted([...own, ...runtimeSecrets]);
      secretsVersion = runtimeVersion;
    }
    let out = input;
    for (const secret of secrets) out = out.split(secret).join(REDACTED);
    return out
      .replace(AUTH_SCHEME, `$1 ${REDACTED}`)
      .replace(URL_PASSWORD, `$1${REDACTED}@`)
      .replace(URL_TOKEN_PARAM, `$1${REDACTED}`)
      .replace(CARD_LIKE, (match: string, batchId: string | undefined) =>
        keepsDigits(match, batchId) ? match : REDACTED_NUMBER,
      );
  };
  const walk = (input: unknown, depth: number, seen: WeakSet<object>): unknown => {
    if (typeof input === 'string') return text(input);
    if (typeof input !== 'object' || input === null) return input;
    if (seen.has(input)) return '[circular]';
    if (depth >= MAX_DEPTH) return '[too deep]';
    seen.add(input);
    try {
      if (Array.isArray(input)) return input.map((item) => walk(item, depth + 1, seen));
      if (input instanceof Error) return errorObject(input, depth, seen);
      const json = (input as { toJSON?: unknown }).toJSON;
      if (typeof json === 'function') return walk((json as () => unknown).call(input), depth + 1, seen);
      return entries(Object.entries(input), depth, seen);
    } finally {
      seen.delete(input);
    }
  };
  const entries = (pairs: Array<[string, unknown]>, depth: number, seen: WeakSet<object>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of pairs) {
      if (isSecretKey(key)) out[key] = REDACTED;
      else if (key === 'command' && isRedisCommand(value)) out[key] = { name: value.name, args: REDACTED };
      else if (serialized.has(key) && isClassInstance(value)) out[key] = value;
      else out[key] = walk(value, depth + 1, seen);
    }
    return out;
  };
  // The same shape pino's err serializer gives (`type`, `message`, `stack`, own fields), redacted.
  const errorObject = (error: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> => {
    const own = Object.entries(error).filter(([key]) => key !== 'cause');
    const out: Record<string, unknown> = {
      type: error.name,
      message: text(error.message),
      ...entries(own, depth, seen),
    };
    if (error.stack !== undefined) out.stack = text(error.stack);
    if (error.cause !== undefined) out.cause = walk(error.cause, depth + 1, seen);
    return out;
  };
  return { value: (input) => walk(input, 0, new WeakSet()), text };
}

/**
 * The `command` ioredis attaches to its errors: `{ name, args }`. Its args are the password
 * for AUTH and HELLO (even a wrong one), and job or event data for the rest; only the name is
 * worth a log line.
 */
function isRedisCommand(value: unknown): value is { name: string; args: unknown[] } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { name?: unknown }).name === 'string' &&
    Array.isArray((value as { args?: unknown }).args)
  );
}

function isClassInstance(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto !== Object.prototype && proto !== null;
}

/**
 * Keys whose values are credentials wherever they occur (any spelling; keys that merely
 * contain `token`, `secret`, `password`… are masked too, see SECRET_KEY_PARTS).
 */
export const SECRET_KEYS: readonly string[] = [
  'authorization',
  'cookie',
  'key',
  'clientSecret',
  'accessToken',
  'REDIS_URL',
  'INGEST_API_KEYS',
];

/**
 * Private data fields masked even when the mapping in hand does not declare them: those of
 * the built-in mapping, so a process (or a CLI) with another mapping file still hides them.
 */
export const ALWAYS_PRIVATE_FIELDS: readonly string[] = ['cardId', 'agentId'];

/** Variables whose whole value is a secret. */
const SECRET_VALUE_VARIABLES = [
  'ADMIN_TOKEN',
  'ADMIN_READONLY_TOKEN',
  'TARGET_AUTH_TOKEN',
  'SIMULATOR_AUTH_TOKEN',
  'TARGET_IMS_CLIENT_SECRET',
] as const;
/** Variables holding URLs whose password is a secret (REDIS_URL may list several seeds). */
const SECRET_URL_VARIABLES = ['REDIS_URL', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'] as const;

/**
 * Every variable whose value is (or holds) a secret: no config message ever quotes it, and
 * {@link secretsFromEnv} masks what it holds. INGEST_API_KEYS holds `source:key` entries.
 */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set([
  ...SECRET_VALUE_VARIABLES,
  ...SECRET_URL_VARIABLES,
  'INGEST_API_KEYS',
]);

/** The settings a policy reads its secrets from: the process' Config, or the part a CLI loads. */
export interface SecretSettings {
  ADMIN_TOKEN?: string | undefined;
  ADMIN_READONLY_TOKEN?: string | undefined;
  TARGET_AUTH_TOKEN?: string | undefined;
  TARGET_AUTH_TOKEN_FILE?: string | undefined;
  TARGET_IMS_CLIENT_SECRET?: string | undefined;
  /** Plain-text keys are masked; hashed ones (`sha256:`) have nothing to mask. */
  INGEST_API_KEYS?: ReadonlyArray<{ key?: string | undefined }> | undefined;
  REDIS_URL?: string | undefined;
}

export interface RedactionSources {
  /** The settings holding secrets (tokens, API keys, Redis password, IMS client secret…). */
  config?: SecretSettings;
  /** The mapping whose private data fields are masked (`"private": true`, `"private": [...]`). */
  mapping?: CompiledMapping | MappingSpec;
  /**
   * The environment, for the secrets the config does not keep (proxy passwords, the
   * simulator's token, the token in TARGET_AUTH_TOKEN_FILE). Default `process.env`.
   */
  env?: Record<string, string | undefined>;
  /** More private field names (besides the mapping's and {@link ALWAYS_PRIVATE_FIELDS}). */
  privateFields?: Iterable<string>;
  /** More exact secret values to mask inside strings. */
  secretValues?: readonly string[];
}

/**
 * What every output of the process masks with: one object, built once by
 * {@link createRedactionPolicy} and passed around (HttpContext, the logger, the CLIs).
 */
export interface RedactionPolicy extends Redactor {
  /** A redacted copy of anything (log objects, job data, dead letters, rejected records). */
  value(input: unknown): unknown;
  /** A string with card numbers, credentials, URL passwords and tokens and secret values masked. */
  text(input: string): string;
  /** The private data field names it masks under any key spelling. */
  readonly privateFields: ReadonlySet<string>;
  /** Every key it masks by name: {@link SECRET_KEYS} plus the private fields. */
  readonly keys: readonly string[];
}

/**
 * Builds the process' redaction policy from its settings and mapping. Secrets: the admin
 * tokens, the Target token (and the one in TARGET_AUTH_TOKEN_FILE now), the IMS client secret,
 * plain-text intake keys, Redis and proxy passwords, plus tokens learnt later
 * ({@link addRuntimeSecret}). Private: the mapping's private data fields and
 * {@link ALWAYS_PRIVATE_FIELDS}; by content: card-like numbers and credentials in URLs.
 */
export function createRedactionPolicy(sources: RedactionSources = {}): RedactionPolicy {
  const env = sources.env ?? process.env;
  const privateFields = new Set<string>([
    ...ALWAYS_PRIVATE_FIELDS,
    ...(sources.mapping !== undefined ? privateDataFields(sources.mapping) : []),
    ...(sources.privateFields ?? []),
  ]);
  const keys = [...SECRET_KEYS, ...privateFields];
  const redactor = createRedactor({
    keys,
    secretValues: [
      ...secretsFromConfig(sources.config ?? {}),
      ...secretsFromEnv(env),
      ...secretFromTokenFile({
        TARGET_AUTH_TOKEN_FILE: sources.config?.TARGET_AUTH_TOKEN_FILE ?? env.TARGET_AUTH_TOKEN_FILE,
      }),
      ...(sources.secretValues ?? []),
    ],
    // fastify logs `{ req, res }` and its serializers pick method, url and status, never headers.
    serializedKeys: ['req', 'res'],
  });
  return { value: (input) => redactor.value(input), text: (input) => redactor.text(input), privateFields, keys };
}

/** The plain-text secrets a config holds (intake keys configured by digest have none). */
export function secretsFromConfig(config: SecretSettings): string[] {
  const out: string[] = [];
  for (const value of [
    config.ADMIN_TOKEN,
    config.ADMIN_READONLY_TOKEN,
    config.TARGET_AUTH_TOKEN,
    config.TARGET_IMS_CLIENT_SECRET,
    ...(config.INGEST_API_KEYS ?? []).map((k) => k.key),
  ]) {
    if (value !== undefined && value !== '') out.push(value);
  }
  for (const seed of (config.REDIS_URL ?? '').split(',')) {
    const password = passwordOfUrl(seed);
    if (password !== undefined) out.push(password);
  }
  return out;
}

const builtIn = createRedactionPolicy({ env: {} });

/**
 * Redacts with the built-in keys only (no config, no mapping): for code that has no policy
 * in hand. Outputs of the process use its {@link RedactionPolicy} instead.
 */
export function redactValue(input: unknown, extraKeys: readonly string[] = []): unknown {
  if (extraKeys.length === 0) return builtIn.value(input);
  return createRedactionPolicy({ env: {}, privateFields: extraKeys }).value(input);
}

/**
 * The secret values a process holds in its environment: admin tokens, API keys, Target token,
 * IMS client secret, Redis and proxy passwords. A token read from TARGET_AUTH_TOKEN_FILE is
 * not here (this function does no IO): see {@link secretFromTokenFile} and {@link addRuntimeSecret}.
 */
export function secretsFromEnv(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const name of SECRET_VALUE_VARIABLES) {
    const value = env[name];
    if (value !== undefined && value !== '') out.push(value);
  }
  for (const name of SECRET_URL_VARIABLES) {
    // With REDIS_CLUSTER, REDIS_URL lists several seeds, each of which may carry the password.
    for (const url of (env[name] ?? '').split(',')) {
      const password = passwordOfUrl(url);
      if (password !== undefined) out.push(password);
    }
  }
  for (const entry of (env.INGEST_API_KEYS ?? '').split(',')) {
    const colon = entry.indexOf(':');
    if (colon > 0) out.push(entry.slice(colon + 1).trim());
  }
  return out;
}

function passwordOfUrl(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  try {
    const password = decodeURIComponent(new URL(value.trim()).password);
    return password === '' ? undefined : password;
  } catch {
    return undefined;
  }
}

/**
 * The token in TARGET_AUTH_TOKEN_FILE as it stands now (trimmed), or nothing when unset or
 * unreadable: the logger masks it from its first line. Later tokens from the file are added
 * by the token source (src/target/token-source.ts) with {@link addRuntimeSecret}.
 */
export function secretFromTokenFile(env: Record<string, string | undefined>): string[] {
  const path = env.TARGET_AUTH_TOKEN_FILE;
  if (path === undefined || path === '') return [];
  try {
    const token = readFileSync(path, 'utf8').trim();
    return token === '' ? [] : [token];
  } catch {
    // The token source reports an unreadable file; nothing to mask yet.
    return [];
  }
}
