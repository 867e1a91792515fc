import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApiKeyRing, bearerToken } from '../../../src/intake/api-keys.js';
import { DEV_SOURCE, intakeAuthenticator } from '../../../src/intake/intake-auth.js';
import { createLogger } from '../../../src/logger.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const silent = createLogger({ level: 'silent', pretty: false });

describe('ApiKeyRing', () => {
  it('maps a key to its source through its digest', () => {
    const ring = new ApiKeyRing([
      { source: 'pos', sha256: sha256('pos-key-0123456789') },
      { source: 'kiosk', sha256: sha256('kiosk-key-0123456789') },
    ]);
    expect(ring.sourceOf('kiosk-key-0123456789')).toBe('kiosk');
    expect(ring.sourceOf('pos-key-0123456789')).toBe('pos');
    expect(ring.sourceOf('pos-key-012345678')).toBeUndefined();
    expect(ring.sourceOf('')).toBeUndefined();
  });
});

describe('bearerToken', () => {
  it('reads the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe('intakeAuthenticator', () => {
  it('requires a configured key when there are keys', () => {
    const auth = intakeAuthenticator(
      { NODE_ENV: 'development', INGEST_API_KEYS: [{ source: 'pos', sha256: sha256('pos-key-0123456789') }] },
      silent,
    );
    expect(auth('Bearer pos-key-0123456789')).toBe('pos');
    expect(auth(undefined)).toBeUndefined();
  });

  it(`takes everything as "${DEV_SOURCE}" without keys outside production, nothing in production`, () => {
    expect(intakeAuthenticator({ NODE_ENV: 'development', INGEST_API_KEYS: [] }, silent)(undefined)).toBe(DEV_SOURCE);
    expect(
      intakeAuthenticator({ NODE_ENV: 'production', INGEST_API_KEYS: [] }, silent)('Bearer anything-at-all'),
    ).toBeUndefined();
  });
});
