import { describe, expect, it } from 'vitest';
import { loadConfig, resolveListen } from '../../src/config.js';

const KEYS = 'pos:pos-secret-key-0123456789';

describe('resolveListen: where the HTTP server binds', () => {
  it('binds 127.0.0.1 without HOST and without intake keys, and says why and how to change it', () => {
    const choice = resolveListen(undefined, 0);
    expect(choice.host).toBe('127.0.0.1');
    expect(choice.warning).toBe(
      'no INGEST_API_KEYS: intake accepts every request as source dev, listening on 127.0.0.1 only; set HOST=0.0.0.0 to listen on every interface',
    );
  });

  it('binds every interface without HOST when intake has keys, silently', () => {
    expect(resolveListen(undefined, 1)).toEqual({ host: '0.0.0.0', warning: undefined });
    expect(resolveListen(undefined, 3)).toEqual({ host: '0.0.0.0', warning: undefined });
  });

  it('takes HOST when it is set, keys or not', () => {
    expect(resolveListen('10.1.2.3', 2)).toEqual({ host: '10.1.2.3', warning: undefined });
    expect(resolveListen('127.0.0.1', 0)).toEqual({ host: '127.0.0.1', warning: undefined });
    expect(resolveListen('::1', 0)).toEqual({ host: '::1', warning: undefined });
    expect(resolveListen('localhost', 0)).toEqual({ host: 'localhost', warning: undefined });
  });

  it('warns when HOST opens a keyless intake to other machines', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.5']) {
      const choice = resolveListen(host, 0);
      expect(choice.host).toBe(host);
      expect(choice.warning).toMatch(
        new RegExp(`^no INGEST_API_KEYS: intake accepts every request as source dev, listening on ${host} \\(HOST\\)`),
      );
      expect(choice.warning).toMatch(/set INGEST_API_KEYS/);
    }
  });
});

describe('loadConfig: HOST', () => {
  it('defaults HOST from INGEST_API_KEYS when unset (or empty, as compose writes it)', () => {
    expect(loadConfig({}).HOST).toBe('127.0.0.1');
    expect(loadConfig({}).listenWarning).toMatch(/listening on 127\.0\.0\.1 only; set HOST=0\.0\.0\.0/);
    expect(loadConfig({ HOST: '' }).HOST).toBe('127.0.0.1');
    expect(loadConfig({ INGEST_API_KEYS: KEYS }).HOST).toBe('0.0.0.0');
    expect(loadConfig({ INGEST_API_KEYS: KEYS }).listenWarning).toBeUndefined();
    expect(loadConfig({ INGEST_API_KEYS: KEYS, HOST: '127.0.0.1' }).HOST).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0' }).HOST).toBe('0.0.0.0');
  });

  it('binds every interface in production, which requires keys', () => {
    const config = loadConfig({ NODE_ENV: 'production', TARGET_CLIENT_CODE: 'acme', INGEST_API_KEYS: KEYS });
    expect(config.HOST).toBe('0.0.0.0');
    expect(config.listenWarning).toBeUndefined();
  });

  it('keeps the listen warning out of the settings warnings, and never quotes a key', () => {
    expect(loadConfig({}).warnings).toEqual([]);
    expect(loadConfig({ HOST: '0.0.0.0' }).listenWarning).not.toContain('pos-secret');
  });
});
