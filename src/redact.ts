import { readFileSync } from 'node:fs';

/**
 * Redaction for logs and dashboards: nothing secret or personal leaves the process in a log
 * line or a job view. Two nets, because either alone leaks:
 * - by key: values under secret or PII keys (`authorization`, `cardId`, `x-api-key`, …) are
 *   replaced at any depth, whatever the spelling (case, `-`, `_`);
 * - by content: inside every string, card-like digit runs (13-19 digits, spaces or dashes
 *   allowed), `Bearer`/`Basic` credentials, passwords in URLs and known secret values are
 *   masked, so an error message that quotes a card number or a token is safe too.
 * The arguments of a Redis command attached to an ioredis error (`err.command.args`) are
 * dropped whole: AUTH and HELLO carry the password there.
 * Numbers are left alone: 13-digit millisecond timestamps are everywhere in logs, and a
 * card number sent as a JSON number sits under a PII key anyway.
 */

export const REDACTED = '[redacted]';
export const REDACTED_NUMBER = '[redacted-number]';

/** Normalized key fragments that mark a secret wherever they occur in a key name. */
const SECRET_KEY_PARTS = ['token', 'secret', 'password', 'passwd', 'apikey', 'authorization', 'cookie', 'credential'];

const CARD_LIKE = /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g;
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi;
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@/]+@/gi;
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
      .replace(CARD_LIKE, REDACTED_NUMBER);
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

const defaultRedactor = createRedactor({ keys: ['authorization', 'key', 'cardId', 'agentId', 'REDIS_URL'] });

/** Redacts with the built-in key list only (for callers without a configured redactor). */
export function redactValue(input: unknown, extraKeys: readonly string[] = []): unknown {
  if (extraKeys.length === 0) return defaultRedactor.value(input);
  return createRedactor({ keys: ['authorization', 'key', 'cardId', 'agentId', 'REDIS_URL', ...extraKeys] }).value(
    input,
  );
}

/**
 * The secret values a process holds in its environment: admin tokens, API keys, Target token,
 * IMS client secret, Redis and proxy passwords. A token read from TARGET_AUTH_TOKEN_FILE is
 * not here (this function does no IO): see {@link secretFromTokenFile} and {@link addRuntimeSecret}.
 */
export function secretsFromEnv(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const name of [
    'ADMIN_TOKEN',
    'ADMIN_READONLY_TOKEN',
    'TARGET_AUTH_TOKEN',
    'SIMULATOR_AUTH_TOKEN',
    'TARGET_IMS_CLIENT_SECRET',
  ]) {
    const value = env[name];
    if (value !== undefined && value !== '') out.push(value);
  }
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) {
    const password = passwordOfUrl(env[name]);
    if (password !== undefined) out.push(password);
  }
  for (const entry of (env.INGEST_API_KEYS ?? '').split(',')) {
    const colon = entry.indexOf(':');
    if (colon > 0) out.push(entry.slice(colon + 1).trim());
  }
  // With REDIS_CLUSTER, REDIS_URL lists several seeds, each of which may carry the password.
  for (const seed of (env.REDIS_URL ?? '').split(',')) {
    if (seed.trim() === '') continue;
    try {
      const password = decodeURIComponent(new URL(seed.trim()).password);
      if (password !== '') out.push(password);
    } catch {
      // An invalid URL is reported by config validation; nothing to mask here.
    }
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
