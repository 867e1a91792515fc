import { describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import { loadConfig } from '../../src/config.js';
import { resolveMapping } from '../../src/events/index.js';
import { maskedJob } from '../../src/ops/dashboard.js';
import { createRedactionPolicy, createRedactor, redactValue, secretsFromEnv } from '../../src/redact.js';

const PASSWORD = 'clu5ter-pa55word-123';

/** The shape ioredis gives a failed command's error: the command, with its arguments, as an own field. */
function redisError(name: string, args: string[]): Error {
  return Object.assign(new Error('WRONGPASS invalid username-password pair or user is disabled.'), {
    command: { name, args },
  });
}

describe('redaction of Redis credentials', () => {
  it('takes the password of every seed of a cluster REDIS_URL as a secret value', () => {
    expect(
      secretsFromEnv({ REDIS_URL: `redis://:${PASSWORD}@10.0.0.1:6379,redis://:${PASSWORD}@10.0.0.2:6379` }),
    ).toEqual([PASSWORD, PASSWORD]);
    expect(
      secretsFromEnv({
        REDIS_URL: `redis://10.0.0.1:6379, rediss://ops:${encodeURIComponent('p@ss:word-0001')}@10.0.0.2:6380`,
      }),
    ).toEqual(['p@ss:word-0001']);
    expect(secretsFromEnv({ REDIS_URL: 'redis://10.0.0.1:6379' })).toEqual([]);
    expect(secretsFromEnv({ REDIS_URL: 'not a url' })).toEqual([]);
  });

  it('drops the arguments of the Redis command an ioredis error carries, even when the password is not a known value', () => {
    const redactor = createRedactor({ keys: [] });
    const logged = JSON.stringify(
      redactor.value({ err: redisError('hello', ['3', 'AUTH', 'default', PASSWORD]), queue: 'ingest' }),
    );
    expect(JSON.stringify({ args: ['3', 'AUTH', 'default', PASSWORD] })).toContain(PASSWORD);
    expect(logged).not.toContain(PASSWORD);
    expect(logged).toContain('"command":{"name":"hello","args":"[redacted]"}');
    expect(logged).toContain('WRONGPASS');
    // Other commands carry job and event data there (agent ids inside JSON text, say).
    const evalsha = JSON.stringify(
      redactValue({ err: redisError('evalsha', ['abc', '1', '{"agentId":"A-77-secret"}']) }),
    );
    expect(evalsha).not.toContain('A-77-secret');
    // A `command` that is not a Redis command is walked as usual.
    expect(redactor.value({ command: { name: 'import', file: 'day.ndjson' } })).toEqual({
      command: { name: 'import', file: 'day.ndjson' },
    });
  });
});

describe('the redaction policy', () => {
  const mapping = resolveMapping({
    mode: 'extend',
    events: {
      loan_application: {
        data: { applicationId: { type: 'string', required: true }, email: { type: 'string', private: true } },
        private: [],
        attributes: { loanApplicationId: { from: 'data.applicationId' } },
      },
    },
  });
  const config = loadConfig({
    REDIS_URL: 'redis://:redis-pa55word-9@127.0.0.1:6379',
    ADMIN_TOKEN: 'admin-token-0123456789',
    ADMIN_READONLY_TOKEN: 'viewer-token-0123456789',
    INGEST_API_KEYS: 'pos:pos-key-0123456789abcdef',
    TARGET_CLIENT_CODE: 'acme',
    TARGET_IMS_CLIENT_ID: 'ims-client',
    TARGET_IMS_CLIENT_SECRET: 'ims-secret-0123456789',
  });
  const policy = createRedactionPolicy({ config, mapping, env: {} });

  it('masks the private fields of the mapping and the built-in ones, at any depth and in any spelling', () => {
    expect([...policy.privateFields].sort()).toEqual(['agentId', 'cardId', 'email']);
    expect(
      policy.value({ events: [{ data: { email: 'a@b.example', Card_ID: 'C-1', applicationId: 'A-1' } }] }),
    ).toEqual({ events: [{ data: { email: '[redacted]', Card_ID: '[redacted]', applicationId: 'A-1' } }] });
  });

  it('masks every secret of the config inside strings', () => {
    const text = [
      'redis-pa55word-9',
      'admin-token-0123456789',
      'viewer-token-0123456789',
      'pos-key-0123456789abcdef',
      'ims-secret-0123456789',
    ].join(' ');
    expect(policy.text(text)).toBe(Array(5).fill('[redacted]').join(' '));
  });

  it('masks card-like numbers and credentials in URLs, user:pass@host and token query parameters', () => {
    expect(policy.text('card 4111-1111-1111-1111 seen')).toBe('card [redacted-number] seen');
    // Adobe's mboxPC ids have as many digits; they are not card numbers and stay readable.
    expect(policy.text('visitor 1368007744041-575948.01_00 seen')).toBe('visitor 1368007744041-575948.01_00 seen');
    expect(policy.text('card 4111111111111111.')).toBe('card [redacted-number].');
    expect(policy.text('https://ops:hunter2-x@crm.example.com/x')).toBe('https://ops:[redacted]@crm.example.com/x');
    expect(policy.text('https://crm.example.com/cb?access_token=abc123def&x=1&sig=zz9#f')).toBe(
      'https://crm.example.com/cb?access_token=[redacted]&x=1&sig=[redacted]#f',
    );
    // Ordinary query parameters stay: dead-letter filters are logged with their URL.
    expect(policy.text('/admin/dead-letters?stage=map&code=EVENT_INVALID')).toBe(
      '/admin/dead-letters?stage=map&code=EVENT_INVALID',
    );
  });

  it('leaves epoch-ms times and Target batch ids readable, and masks every other card-like run', () => {
    // An epoch-ms time, alone or in a batch id of Target's shape (`<client>-<ms>-<n>`).
    for (const text of [
      'accepted at 1796643402585',
      'batch demo-1796643402585-13029383 complete',
      'http://mboxedge45.tt.omtrdc.net/m2/acme/profile/batchStatus?batchId=acme-1796643402585-7',
    ]) {
      expect(policy.text(text)).toBe(text);
    }
    expect(policy.value({ batchId: 'acme-1796643402585-7' })).toEqual({ batchId: 'acme-1796643402585-7' });
    // Card numbers of every length and brand, plain, grouped, or with digits around them.
    for (const card of [
      '4111111111111111',
      '4222222222222', // a 13-digit Visa: the only 13-digit cards, starting with 4
      '5555 5555 5555 4444',
      '3782-822463-10005',
      '36000000000008',
      '4111111111111112', // fails the Luhn check: still masked
      '4111111111111111123', // a CVV stuck on
    ]) {
      expect(policy.text(`paid with ${card}.`)).toBe('paid with [redacted-number].');
    }
    // Digits before or after the card: the whole run is masked, none of the card shows.
    for (const text of [
      '2026 4111 1111 1111 1111',
      'order 12345-4111 1111 1111 1111',
      '1796643402585 4111 1111 1111 1111',
      '2026-01-15 4111 1111 1111 1111',
      'acme-1796643402585-1-4111 1111 1111 1111',
    ]) {
      expect(policy.text(text)).not.toMatch(/1111/);
    }
    // A client code ending in a digit is part of the batch id, not of a number.
    expect(policy.text('batch acme2-1796643402585-7 done')).toBe('batch acme2-1796643402585-7 done');
    // The batch-id shape needs a client code before it.
    expect(policy.text('ref 1796643402585-77')).toBe('ref [redacted-number]');
    // Producer data named like a batch id is masked like any other field.
    expect(policy.value({ batchId: '4111111111111111', note: 'batchId=4111111111111111' })).toEqual({
      batchId: '[redacted-number]',
      note: 'batchId=[redacted-number]',
    });
  });

  it("masks a failed job's reason and stack trace in the dashboard's view of it", () => {
    const job = {
      id: '7',
      data: { n: 1 },
      toJSON: () => ({
        id: '7',
        failedReason: 'card 4111111111111111',
        stacktrace: ['at fetch (https://x.example/?token=abc123def)'],
      }),
    } as unknown as Job;
    const view = maskedJob(job, policy);
    expect(view.id).toBe('7');
    expect(view.toJSON()).toMatchObject({
      failedReason: 'card [redacted-number]',
      stacktrace: ['at fetch (https://x.example/?token=[redacted])'],
    });
  });
});
