import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EnvSchema, loadConfig } from '../../src/config.js';

const ROOT = resolve(import.meta.dirname, '../..');

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const known = new Set(Object.keys(EnvSchema.shape));

describe('docker-compose.yml', () => {
  it('runs Redis with append-only persistence, noeviction, a volume and a healthcheck', () => {
    const redis = compose.services.redis;
    expect(redis?.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(redis?.command?.join(' ')).toMatch(/--maxmemory-policy noeviction/);
    expect(redis?.volumes?.[0]).toMatch(/^redis-data:\/data$/);
    expect(compose.volumes).toHaveProperty('redis-data');
    expect(redis?.healthcheck?.test).toContain('ping');
  });

  it('starts every built service with an entry point the build produces', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.build === undefined) continue;
      const [cmd, entry] = service.command ?? [];
      expect(cmd, name).toBe('node');
      const source = entry?.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(existsSync(resolve(ROOT, source ?? 'missing')), `${name}: ${entry ?? '(no entry)'}`).toBe(true);
    }
    expect(existsSync(resolve(ROOT, 'Dockerfile'))).toBe(true);
  });

  it('sets only variables config.ts knows, with values it accepts', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const env = service.environment ?? {};
      if (Object.keys(env).length === 0) continue;
      for (const variable of Object.keys(env)) expect(known.has(variable), `${name}: ${variable}`).toBe(true);
      expect(() => loadConfig(env), name).not.toThrow();
    }
  });

  it('scales the worker roles as separate services', () => {
    for (const role of ['map', 'flusher', 'deliver']) {
      expect(compose.services[role]?.command).toEqual(['node', `dist/workers/${role}.js`]);
    }
  });
});
