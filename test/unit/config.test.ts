import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, loadConfigSubset, withoutSecrets } from '../../src/config.js';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('applies the documented defaults and uses the simulator without a client code', () => {
    const config = loadConfig({});
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.PORT).toBe(8080);
    expect(config.COALESCE_WINDOW_MS).toBe(5000);
    expect(config.SINGLE_DAILY_BUDGET).toBe(1_000_000);
    expect(config.DELIVERY_MODE).toBe('auto');
    expect(config.DEDUPE_WINDOW_MS).toBe(7 * 24 * 3600 * 1000);
    expect(config.useSimulator).toBe(true);
    expect(config.TARGET_BASE_URL).toBeUndefined();
    expect(config.REDIS_CLUSTER).toBe(false);
    expect(config.REDIS_SHARDS).toBe(1);
  });

  it('takes several seed URLs only with REDIS_CLUSTER=true, and 1-1024 shards', () => {
    const seeds = 'redis://10.0.0.1:7000, rediss://user:secret@10.0.0.2:7001';
    const config = loadConfig({ REDIS_URL: seeds, REDIS_CLUSTER: 'true', REDIS_SHARDS: '6' });
    expect(config.REDIS_CLUSTER).toBe(true);
    expect(config.REDIS_SHARDS).toBe(6);
    expect(problemsOf({ REDIS_URL: seeds })).toEqual([
      'REDIS_URL: several URLs are only allowed with REDIS_CLUSTER=true (they are the seed nodes of a cluster)',
    ]);
    expect(problemsOf({ REDIS_URL: 'redis://a:1,http://b:2', REDIS_CLUSTER: 'true' })[0]).toMatch(
      /^REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL/,
    );
    expect(problemsOf({ REDIS_SHARDS: '0' })[0]).toMatch(/^REDIS_SHARDS:/);
  });

  it('derives the Target edge URL from the client code', () => {
    const config = loadConfig({ TARGET_CLIENT_CODE: 'acmecorp' });
    expect(config.useSimulator).toBe(false);
    expect(config.TARGET_BASE_URL).toBe('https://acmecorp.tt.omtrdc.net');
    expect(loadConfig({ TARGET_CLIENT_CODE: 'acme', TARGET_BASE_URL: 'http://127.0.0.1:9/' }).TARGET_BASE_URL).toBe(
      'http://127.0.0.1:9',
    );
  });

  it('parses per-source API keys with their SHA-256', () => {
    const config = loadConfig({ INGEST_API_KEYS: 'pos-eu:0123456789abcdef0123, callcentre:fedcba9876543210fedc' });
    expect(config.INGEST_API_KEYS).toEqual([
      { source: 'pos-eu', sha256: sha256('0123456789abcdef0123'), key: '0123456789abcdef0123' },
      { source: 'callcentre', sha256: sha256('fedcba9876543210fedc'), key: 'fedcba9876543210fedc' },
    ]);
  });

  it('accepts keys stored as SHA-256 digests, in either case, next to plain keys', () => {
    const digest = sha256('a-till-key-of-some-length');
    const config = loadConfig({ INGEST_API_KEYS: `pos:sha256:${digest.toUpperCase()},pos:second-key-for-rotation` });
    expect(config.INGEST_API_KEYS).toEqual([
      { source: 'pos', sha256: digest },
      { source: 'pos', sha256: sha256('second-key-for-rotation'), key: 'second-key-for-rotation' },
    ]);
  });

  it('refuses malformed key entries by entry number, without echoing them', () => {
    const problems = problemsOf({
      INGEST_API_KEYS:
        'pos:0123456789abcdef0123,kiosk:sha256:abc123,bad source:0123456789abcdef9999,cc:0123456789abcdef0123',
    });
    expect(problems).toEqual([
      'INGEST_API_KEYS: entry 2 must be source:sha256:<64 hex digits> for a hashed key',
      'INGEST_API_KEYS: entry 3 must be source:key with a source of 1-64 characters [A-Za-z0-9_.-]',
      'INGEST_API_KEYS: entry 4 repeats the key of an earlier entry; one key names one source',
    ]);
    expect(problems.join('\n')).not.toMatch(/abc123|0123456789abcdef/);
  });

  it('has intake limits with documented defaults and checks them', () => {
    const config = loadConfig({});
    expect(config.INTAKE_MAX_EVENTS).toBe(10_000);
    expect(config.INTAKE_MAX_QUEUED_BATCHES).toBe(2_000);
    expect(config.INTAKE_MAX_PENDING_VISITORS).toBe(500_000);
    expect(config.INTAKE_MAX_REDIS_MEMORY_RATIO).toBe(0.9);
    expect(config.INTAKE_RETRY_AFTER_SECONDS).toBe(5);
    expect(loadConfig({ INTAKE_MAX_REDIS_MEMORY_RATIO: '0.75' }).INTAKE_MAX_REDIS_MEMORY_RATIO).toBe(0.75);
    const problems = problemsOf({
      INTAKE_MAX_REDIS_MEMORY_RATIO: '1.5',
      INTAKE_MAX_EVENTS: '0',
      INTAKE_RETRY_AFTER_SECONDS: 'soon',
    });
    expect(problems).toHaveLength(3);
    expect(problems).toContain('INTAKE_MAX_REDIS_MEMORY_RATIO: must be greater than 0 and at most 1, got 1.5');
    expect(problems).toContain('INTAKE_MAX_EVENTS: must be greater than 0, got 0');
    expect(problems).toContain('INTAKE_RETRY_AFTER_SECONDS: expected a whole number, got "soon"');
    expect(problemsOf({ INTAKE_MAX_REDIS_MEMORY_RATIO: 'most' })).toEqual([
      'INTAKE_MAX_REDIS_MEMORY_RATIO: expected a fraction such as 0.9, got "most"',
    ]);
  });

  it('samples 1% of deliveries for the landing audit an hour later, and checks the shares', () => {
    const config = loadConfig({});
    expect(config.LANDING_AUDIT_SAMPLE).toBe(0.01);
    expect(config.LANDING_AUDIT_DELAY_MS).toBe(3_600_000);
    expect(config.SIMULATOR_BULK_ROW_LOSS).toBe(0.001);
    const off = loadConfig({ LANDING_AUDIT_SAMPLE: '0', LANDING_AUDIT_DELAY_MS: '0', SIMULATOR_BULK_ROW_LOSS: '1e-2' });
    expect([off.LANDING_AUDIT_SAMPLE, off.LANDING_AUDIT_DELAY_MS, off.SIMULATOR_BULK_ROW_LOSS]).toEqual([0, 0, 0.01]);
    expect(problemsOf({ LANDING_AUDIT_SAMPLE: '1.5', SIMULATOR_BULK_ROW_LOSS: 'some' })).toEqual([
      'LANDING_AUDIT_SAMPLE: expected 0-1, got 1.5',
      'SIMULATOR_BULK_ROW_LOSS: expected a share such as 0.01, got "some"',
    ]);
  });

  it('lists every problem by variable name at once', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      COALESCE_WINDOW_MS: '-5',
      DELIVERY_MODE: 'fast',
      REDIS_URL: 'not a url',
    });
    expect(problems).toHaveLength(4);
    expect(problems).toContain('PORT: expected a whole number, got "eighty"');
    expect(problems.find((p) => p.startsWith('COALESCE_WINDOW_MS:'))).toMatch(/greater than 0/);
    expect(problems.find((p) => p.startsWith('DELIVERY_MODE:'))).toMatch(/auto, single or bulk/);
    expect(problems.find((p) => p.startsWith('REDIS_URL:'))).toBeDefined();
  });

  it('says what a number should be and quotes what it got', () => {
    expect(
      problemsOf({
        PORT: 'x',
        SIMULATOR_PORT: '70000',
        REDIS_SHARDS: '2000',
        WORKER_CONCURRENCY: '1.5',
        BULK_MAX_RESUBMITS: '-1',
        FLUSH_BULK_BATCH_SIZE: '600000',
        REDIS_CLUSTER: 'maybe',
      }),
    ).toEqual([
      'REDIS_CLUSTER: expected true or false, got "maybe"',
      'REDIS_SHARDS: expected 1-1024, got 2000',
      'PORT: expected a whole number, got "x"',
      'FLUSH_BULK_BATCH_SIZE: expected 1-500000 (500,000 is the row limit of one bulk file), got 600000',
      'BULK_MAX_RESUBMITS: must be at least 0, got -1',
      'WORKER_CONCURRENCY: expected a whole number, got "1.5"',
      'SIMULATOR_PORT: expected a port 0-65535, got 70000',
    ]);
    expect(loadConfig({ PORT: ' 9000 ', BULK_MAX_RESUBMITS: '0' })).toMatchObject({
      PORT: 9000,
      BULK_MAX_RESUBMITS: 0,
    });
    // One bulk call a minute could never carry a claim with both identity kinds (two files).
    expect(problemsOf({ BULK_CALLS_PER_MINUTE: '1' })).toEqual([
      'BULK_CALLS_PER_MINUTE: must be at least 2 (a claim with both identity kinds submits two files at once), got 1',
    ]);
    expect(loadConfig({ BULK_CALLS_PER_MINUTE: '2' })).toMatchObject({ BULK_CALLS_PER_MINUTE: 2 });
    // Whole numbers in any decimal spelling, as operators write long windows.
    expect(loadConfig({ DEDUPE_WINDOW_MS: '6.048e8', COALESCE_WINDOW_MS: '5000.0' })).toMatchObject({
      DEDUPE_WINDOW_MS: 604_800_000,
      COALESCE_WINDOW_MS: 5000,
    });
    expect(problemsOf({ TARGET_TIMEOUT_MS: '0x10', FLUSH_INTERVAL_MS: '1e-3' })).toEqual([
      'TARGET_TIMEOUT_MS: expected a whole number, got "0x10"',
      'FLUSH_INTERVAL_MS: expected a whole number, got "1e-3"',
    ]);
  });

  it('lists schema problems together with production requirements', () => {
    const problems = problemsOf({ NODE_ENV: 'production', PORT: 'x' });
    expect(problems).toEqual([
      'PORT: expected a whole number, got "x"',
      'TARGET_CLIENT_CODE: required when NODE_ENV=production (the built-in simulator is for development)',
      'INGEST_API_KEYS: required when NODE_ENV=production',
    ]);
  });

  it('checks every relation whose variables are valid, next to the invalid variables', () => {
    const problems = problemsOf({
      COALESCE_WINDOW_MS: '10000',
      COALESCE_MAX_WAIT_MS: '5000',
      TARGET_TIMEOUT_MS: 'slow',
      CLAIM_LEASE_MS: '1',
      DELIVERY_MODE: 'fast',
      ADMIN_READONLY_TOKEN: 'readonly-token-0123456789',
    });
    expect(problems).toEqual([
      'TARGET_TIMEOUT_MS: expected a whole number, got "slow"',
      'DELIVERY_MODE: expected auto, single or bulk',
      'COALESCE_MAX_WAIT_MS: must be at least COALESCE_WINDOW_MS',
      'ADMIN_READONLY_TOKEN: needs ADMIN_TOKEN too (admin routes are off without it)',
    ]);
    // A relation is skipped when one of its variables is invalid: its own problem says enough.
    expect(
      problemsOf({ NODE_ENV: 'production', TARGET_CLIENT_CODE: 'not a code!', INGEST_API_KEYS: 'pos:short' }),
    ).toEqual([
      'TARGET_CLIENT_CODE: expected a Target client code like "acmecorp"',
      'INGEST_API_KEYS: entry 1 must be source:key with a key of at least 16 characters',
    ]);
  });

  it('checks relations between variables', () => {
    const problems = problemsOf({ COALESCE_WINDOW_MS: '10000', COALESCE_MAX_WAIT_MS: '5000' });
    expect(problems).toEqual(['COALESCE_MAX_WAIT_MS: must be at least COALESCE_WINDOW_MS']);
  });

  it('refuses production without a Target client code or intake keys', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems.some((p) => p.startsWith('TARGET_CLIENT_CODE: required when NODE_ENV=production'))).toBe(true);
    expect(problems.some((p) => p.startsWith('INGEST_API_KEYS:'))).toBe(true);
  });

  it('never prints a secret value in its errors', () => {
    const secretKey = 'short';
    const token = 'tok';
    let message = '';
    try {
      loadConfig({ INGEST_API_KEYS: `pos:${secretKey}`, ADMIN_TOKEN: token, TARGET_AUTH_TOKEN: '' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/INGEST_API_KEYS: entry 1 must be source:key/);
    expect(message).toMatch(/ADMIN_TOKEN: must be at least 16 characters/);
    expect(message).not.toContain(secretKey);
    expect(message).not.toContain(`"${token}"`);
  });

  it('never quotes a secret variable, nor a password in REDIS_URL, even next to quoted numbers', () => {
    const env = {
      NODE_ENV: 'production',
      PORT: 'x',
      REDIS_URL: 'redis://:hunter2-password@127.0.0.1:6379,redis://:other-password@127.0.0.1:6380',
      TARGET_AUTH_TOKEN: '',
      ADMIN_TOKEN: 'admin-secret',
      ADMIN_READONLY_TOKEN: 'readonly-secret',
      INGEST_API_KEYS: 'pos:tiny-secret,kiosk',
    };
    const text = problemsOf(env).join('\n');
    expect(text).toContain('PORT: expected a whole number, got "x"');
    expect(text).toContain('REDIS_URL: several URLs are only allowed with REDIS_CLUSTER=true');
    expect(text).toContain('TARGET_CLIENT_CODE: required when NODE_ENV=production');
    for (const secret of [
      'hunter2-password',
      'other-password',
      'admin-secret',
      'readonly-secret',
      'tiny-secret',
      'kiosk',
    ])
      expect(text).not.toContain(secret);
  });

  it('cuts a secret value, its comma-separated parts and REDIS_URL passwords out of any message about it', () => {
    const key = 'pos:pos-key-0123456789abcdef';
    expect(
      withoutSecrets(
        'INGEST_API_KEYS',
        `${key},kiosk:kiosk-key-0123456789`,
        `bad entry ${key} and kiosk:kiosk-key-0123456789`,
      ),
    ).toBe('bad entry <redacted> and <redacted>');
    expect(
      withoutSecrets(
        'REDIS_URL',
        'redis://:s3cr%40t@10.0.0.1:6379,redis://:other-pass@10.0.0.2:6379',
        'AUTH s3cr@t failed; other-pass too',
      ),
    ).toBe('AUTH <redacted> failed; <redacted> too');
    // Not a secret variable: left as it is (numbers are quoted on purpose).
    expect(withoutSecrets('PORT', 'abc', 'PORT: expected a whole number, got "abc"')).toBe(
      'PORT: expected a whole number, got "abc"',
    );
  });

  it('validates a subset on its own, without the requirements of variables outside it', () => {
    const variables = ['NODE_ENV', 'REDIS_URL', 'REDIS_CLUSTER', 'REDIS_PREFIX', 'DEDUPE_WINDOW_MS'] as const;
    const env = { NODE_ENV: 'production', PORT: 'x', ADMIN_TOKEN: 'short', REDIS_PREFIX: 'shop' };
    expect(loadConfigSubset(env, variables)).toEqual({
      NODE_ENV: 'production',
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_CLUSTER: false,
      REDIS_PREFIX: 'shop',
      DEDUPE_WINDOW_MS: 7 * 24 * 3600 * 1000,
    });
    let problems: string[] = [];
    try {
      loadConfigSubset({ ...env, REDIS_URL: 'redis://a:1,redis://b:2', DEDUPE_WINDOW_MS: 'week' }, variables);
    } catch (error) {
      if (error instanceof ConfigError) problems = error.problems;
    }
    expect(problems).toEqual([
      'DEDUPE_WINDOW_MS: expected a whole number, got "week"',
      'REDIS_URL: several URLs are only allowed with REDIS_CLUSTER=true (they are the seed nodes of a cluster)',
    ]);
  });

  it('takes the profile token from one source: TARGET_AUTH_TOKEN, TARGET_AUTH_TOKEN_FILE or the Admin API', () => {
    const token = 'profile-token-0123456789';
    const secret = 'ims-client-secret-0123456789';
    expect(loadConfig({ TARGET_AUTH_TOKEN_FILE: '/var/run/secrets/target/token' }).TARGET_AUTH_TOKEN_FILE).toBe(
      '/var/run/secrets/target/token',
    );
    const both = problemsOf({ TARGET_AUTH_TOKEN: token, TARGET_AUTH_TOKEN_FILE: '/run/token' });
    expect(both).toEqual([
      'TARGET_AUTH_TOKEN, TARGET_AUTH_TOKEN_FILE: set one of them, not both (one source of the profile token)',
    ]);
    expect(both.join('\n')).not.toContain(token);
    expect(
      problemsOf({ TARGET_IMS_CLIENT_ID: 'client-id', TARGET_IMS_CLIENT_SECRET: secret, TARGET_AUTH_TOKEN: token }),
    ).toEqual([
      'TARGET_IMS_CLIENT_ID, TARGET_AUTH_TOKEN: set one of them, not both (with IMS credentials the profile token comes from the Admin API)',
    ]);
    expect(
      problemsOf({
        TARGET_IMS_CLIENT_ID: 'client-id',
        TARGET_IMS_CLIENT_SECRET: secret,
        TARGET_AUTH_TOKEN_FILE: '/run/token',
      }),
    ).toEqual([
      'TARGET_IMS_CLIENT_ID, TARGET_AUTH_TOKEN_FILE: set one of them, not both (with IMS credentials the profile token comes from the Admin API)',
    ]);
    const half = problemsOf({ TARGET_IMS_CLIENT_SECRET: secret });
    expect(half).toEqual([
      'TARGET_IMS_CLIENT_ID, TARGET_IMS_CLIENT_SECRET: set both (the credential for the Admin API) or neither',
    ]);
    expect(half.join('\n')).not.toContain(secret);
  });

  it('reads the Admin API settings with their defaults; regenerating needs IMS credentials', () => {
    const defaults = loadConfig({ TARGET_CLIENT_CODE: 'acme' });
    expect(defaults.TARGET_IMS_URL).toBe('https://ims-na1.adobelogin.com/ims/token/v3');
    expect(defaults.TARGET_ADMIN_URL).toBe('https://mc.adobe.io');
    expect(defaults.TARGET_IMS_SCOPES).toBe(
      'openid,AdobeID,target_sdk,additional_info.projectedProductContext,read_organizations,additional_info.roles',
    );
    expect(defaults.TARGET_ADMIN_TENANT).toBe('acme');
    expect(defaults.TARGET_TOKEN_REGENERATE).toBe(false);
    expect(defaults.TARGET_TOKEN_REGENERATE_BEFORE_MS).toBe(24 * 3600_000);
    expect(loadConfig({}).TARGET_ADMIN_TENANT).toBe('simulator');
    const set = loadConfig({
      TARGET_CLIENT_CODE: 'acme',
      TARGET_ADMIN_TENANT: 'acmetenant',
      TARGET_IMS_CLIENT_ID: 'id',
      TARGET_IMS_CLIENT_SECRET: 'secret-value',
      TARGET_ADMIN_URL: 'http://127.0.0.1:9/',
      TARGET_IMS_SCOPES: 'openid,AdobeID',
      TARGET_TOKEN_REGENERATE: 'true',
      TARGET_TOKEN_REGENERATE_BEFORE_MS: '3600000',
    });
    expect(set).toMatchObject({
      TARGET_ADMIN_TENANT: 'acmetenant',
      TARGET_ADMIN_URL: 'http://127.0.0.1:9',
      TARGET_IMS_SCOPES: 'openid,AdobeID',
      TARGET_TOKEN_REGENERATE: true,
      TARGET_TOKEN_REGENERATE_BEFORE_MS: 3_600_000,
    });
    expect(problemsOf({ TARGET_TOKEN_REGENERATE: 'true' })).toEqual([
      'TARGET_TOKEN_REGENERATE: needs TARGET_IMS_CLIENT_ID and TARGET_IMS_CLIENT_SECRET (the token is regenerated through the Admin API)',
    ]);
    expect(problemsOf({ TARGET_IMS_URL: 'ftp://ims.example' })).toEqual(['TARGET_IMS_URL: expected an http(s) URL']);
    expect(problemsOf({ TARGET_IMS_SCOPES: 'openid, AdobeID' })[0]).toMatch(
      /^TARGET_IMS_SCOPES: expected comma-separated scopes/,
    );
    expect(problemsOf({ TARGET_TOKEN_REGENERATE_BEFORE_MS: '0' })[0]).toMatch(/^TARGET_TOKEN_REGENERATE_BEFORE_MS:/);
  });

  it('leaves 30 % of the shared bulk limit to other users and keeps delivered values for the profile lifetime', () => {
    const config = loadConfig({});
    expect(config.BULK_CALLS_PER_MINUTE).toBe(35);
    expect(config.BULK_PCID_ROUTE).toBe('v1');
    expect(config.BULK_MAX_CLAIMS_IN_FLIGHT).toBe(10);
    expect(config.BULK_STATUS_GIVE_UP_MS).toBe(25 * 3600_000);
    expect(config.TARGET_PROFILE_LIFETIME_DAYS).toBe(14);
    expect(config.DELIVERED_RETENTION_MS).toBe(14 * 24 * 3600_000);
    expect(loadConfig({ TARGET_PROFILE_LIFETIME_DAYS: '90' }).DELIVERED_RETENTION_MS).toBe(90 * 24 * 3600_000);
    expect(config.warnings).toEqual([]);
    expect(loadConfig({ DELIVERED_RETENTION_MS: String(30 * 24 * 3600_000) }).warnings).toEqual([
      expect.stringMatching(/DELIVERED_RETENTION_MS .* is longer than TARGET_PROFILE_LIFETIME_DAYS \(14 days\)/),
    ]);
    expect(() => loadConfig({ TARGET_PROFILE_LIFETIME_DAYS: '91' })).toThrow(
      /TARGET_PROFILE_LIFETIME_DAYS: expected 1-90 \(Adobe keeps profiles at most 90 days\), got 91/,
    );
    expect(() => loadConfig({ BULK_PCID_ROUTE: 'v3' })).toThrow(/BULK_PCID_ROUTE: expected v1, v2 or single/);
  });

  it('treats empty strings as unset, as docker-compose writes them', () => {
    const config = loadConfig({ TARGET_CLIENT_CODE: '', PORT: '' });
    expect(config.useSimulator).toBe(true);
    expect(config.PORT).toBe(8080);
  });
});
