import { describe, expect, it } from 'vitest';
import { createRedactor, redactValue, secretsFromEnv } from '../../src/redact.js';

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
