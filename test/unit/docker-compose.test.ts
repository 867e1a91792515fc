import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EnvSchema, loadConfig } from '../../src/config.js';
import { OPS_ROUTES } from '../../src/ops/routes.js';

const ROOT = resolve(import.meta.dirname, '../..');

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
}

/** Compose's own interpolation of `${VAR:-default}` / `${VAR-default}` / `${VAR}`, with nothing set in the shell. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_m, _name: string, fallback: string | undefined) => fallback ?? '').replace(/\$\$/g, '$');
}

const compose = parse(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const known = new Set(Object.keys(EnvSchema.shape));
const nodeServices = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
const appServices = nodeServices.filter(([, s]) => s.command?.[1]?.startsWith('dist/workers/') === true);
const envOf = (service: Service): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));

/** The URL a `node -e "fetch('…')"` healthcheck asks. */
function healthcheckUrl(service: Service): URL {
  const script = service.healthcheck?.test.join(' ') ?? '';
  const url = /fetch\('([^']+)'\)/.exec(script)?.[1];
  if (url === undefined) throw new Error(`no fetch('…') in healthcheck: ${script}`);
  return new URL(url);
}

describe('docker-compose.yml', () => {
  it('runs Redis with append-only persistence, noeviction, a memory limit, a volume and a healthcheck', () => {
    const redis = compose.services.redis;
    const command = redis?.command?.join(' ');
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
    expect(command).toMatch(/--maxmemory \d+[kmg]b/);
    expect(redis?.volumes?.[0]).toMatch(/^redis-data:\/data$/);
    expect(compose.volumes).toHaveProperty('redis-data');
    expect(redis?.healthcheck?.test).toContain('ping');
  });

  it('starts every built service with an entry point the build produces', () => {
    expect(nodeServices.length).toBeGreaterThan(0);
    for (const [name, service] of nodeServices) {
      const [cmd, entry] = service.command ?? [];
      expect(cmd, name).toBe('node');
      expect(entry, name).toMatch(/^dist\/.+\.js$/);
      const source = entry?.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(existsSync(resolve(ROOT, source ?? 'missing')), `${name}: ${entry ?? '(no entry)'}`).toBe(true);
    }
    expect(existsSync(resolve(ROOT, 'Dockerfile'))).toBe(true);
  });

  it('sets only variables config.ts knows, with values it accepts once compose has filled in the defaults', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const env = envOf(service);
      for (const variable of Object.keys(env)) expect(known.has(variable), `${name}: ${variable}`).toBe(true);
      if (Object.keys(env).length > 0) expect(() => loadConfig(env), name).not.toThrow();
    }
  });

  it('runs intake and every worker role as services, the workers scalable (no published port)', () => {
    expect(compose.services.intake?.command).toEqual(['node', 'dist/workers/intake.js']);
    for (const role of ['map', 'flusher', 'deliver']) {
      expect(compose.services[role]?.command).toEqual(['node', `dist/workers/${role}.js`]);
      expect(compose.services[role]?.ports, role).toBeUndefined();
    }
  });

  it('gives the published intake an admin token, and no service an anonymous dashboard', () => {
    const intake = loadConfig(envOf(compose.services.intake ?? {}));
    expect(intake.ADMIN_TOKEN).toBeDefined();
    expect(intake.INGEST_API_KEYS.length).toBeGreaterThan(0);
    for (const [name, service] of appServices) {
      if (service.ports !== undefined) expect(loadConfig(envOf(service)).ADMIN_TOKEN, name).toBeDefined();
    }
  });

  it('points every node healthcheck at a real route on the port the process listens on', () => {
    for (const [name, service] of appServices) {
      const url = healthcheckUrl(service);
      const config = loadConfig(envOf(service));
      expect([OPS_ROUTES.healthz, OPS_ROUTES.readyz], name).toContain(url.pathname);
      expect(url.hostname, name).toBe('127.0.0.1');
      expect(Number(url.port), name).toBe(config.PORT);
      for (const mapping of service.ports ?? []) expect(Number(mapping.split(':').at(-1)), name).toBe(config.PORT);
    }
  });

  it('wires the simulator on one port: its flag, its healthcheck, its published port and TARGET_BASE_URL', () => {
    const simulator = compose.services.simulator ?? {};
    const args = simulator.command ?? [];
    const port = Number(args[args.indexOf('--port') + 1]);
    expect(port).toBeGreaterThan(0);
    const url = healthcheckUrl(simulator);
    expect(Number(url.port)).toBe(port);
    // The Fetch Profile API: a route the simulator serves, answering 404 for an unknown profile.
    expect(url.pathname).toMatch(/^\/rest\/v1\/profiles\/[^/]+$/);
    expect(readFileSync(resolve(ROOT, 'src/simulator/routes-fetch.ts'), 'utf8')).toContain("'/rest/v1/profiles/:tntId'");
    expect(simulator.ports?.map((p) => Number(p.split(':').at(-1)))).toEqual([port]);
    for (const [name, service] of appServices) {
      expect(loadConfig(envOf(service)).TARGET_BASE_URL, name).toBe(`http://simulator:${port}`);
    }
  });
});
