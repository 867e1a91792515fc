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

/** What docs/operations.md tells users to set in the shell (or .env) before `docker compose up`. */
const SHELL = { ADMIN_TOKEN: 'compose-admin-token-0123456789', INGEST_API_KEYS: 'pos:compose-pos-key-0123456789' };
/** Variables whose values are secrets: the file may only take them from the shell. */
const SECRETS = ['ADMIN_TOKEN', 'ADMIN_READONLY_TOKEN', 'INGEST_API_KEYS', 'TARGET_AUTH_TOKEN', 'SIMULATOR_AUTH_TOKEN'];

/**
 * Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`. A required variable that is
 * missing throws, as `docker compose up` refuses to start.
 */
function interpolate(value: string, shell: Record<string, string | undefined>): string {
  const pattern = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;
  return value.replace(
    pattern,
    (
      match,
      braced: string | undefined,
      colon: string | undefined,
      op: string | undefined,
      arg: string | undefined,
      bare: string | undefined,
    ) => {
      if (match === '$$') return '$';
      const name = braced ?? bare ?? '';
      const set = shell[name];
      const missing = colon === ':' ? set === undefined || set === '' : set === undefined;
      switch (op) {
        case '-':
          return missing ? (arg ?? '') : (set ?? '');
        case '?':
          if (missing) throw new Error(`required variable ${name} is missing a value: ${arg ?? ''}`);
          return set ?? '';
        case '+':
          return missing ? '' : (arg ?? '');
        case undefined:
        default:
          return set ?? '';
      }
    },
  );
}

const raw = readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8');
const compose = parse(raw, { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const known = new Set(Object.keys(EnvSchema.shape));
const nodeServices = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
const appServices = nodeServices.filter(([, s]) => s.command?.[1]?.startsWith('dist/workers/') === true);
const envOf = (service: Service, shell: Record<string, string | undefined> = SHELL): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), shell)]));
const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(resolve(ROOT, file), 'utf8')) as Record<string, unknown>;

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

  it('starts every built service with an entry point the Dockerfile build compiles from a source file', () => {
    // The image runs `npm run build` (tsc -p tsconfig.build.json) on the folders it copies;
    // tsc writes <rootDir>/<path>.ts to <outDir>/<path>.js.
    const dockerfile = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8');
    const scripts = readJson('package.json').scripts as Record<string, string>;
    expect(dockerfile).toMatch(/^RUN npm run build\b/m);
    const buildConfig = /tsc -p (\S+)/.exec(scripts.build ?? '')?.[1] ?? 'missing';
    const build = readJson(buildConfig) as {
      extends?: string;
      include?: string[];
      compilerOptions?: Record<string, unknown>;
    };
    const base = readJson(build.extends ?? 'tsconfig.json') as { compilerOptions: Record<string, unknown> };
    const options = { ...base.compilerOptions, ...build.compilerOptions };
    expect(options.outDir).toBe('dist');
    expect(options.rootDir).toBe('.');
    expect(nodeServices.length).toBeGreaterThan(0);
    for (const [name, service] of nodeServices) {
      const [cmd, entry = ''] = service.command ?? [];
      expect(cmd, name).toBe('node');
      expect(entry, name).toMatch(/^dist\/.+\.js$/);
      const source = entry.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      const folder = source.split('/')[0] ?? '';
      expect(existsSync(resolve(ROOT, source)), `${name}: ${entry} needs ${source}`).toBe(true);
      expect(build.include, `${name}: ${buildConfig} must include ${folder}`).toContain(folder);
      expect(dockerfile, `${name}: the Dockerfile must copy ${folder}`).toMatch(
        new RegExp(`^COPY ${folder} \\./${folder}\\s*$`, 'm'),
      );
    }
  });

  it('takes every secret from the shell: ADMIN_TOKEN and INGEST_API_KEYS are required, none has a default', () => {
    expect(raw).not.toMatch(/change-me/i);
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        if (!SECRETS.includes(variable)) continue;
        // Only `${VAR:?message}` (required) or `${VAR:-}` (optional, empty): never a literal.
        expect(String(value), `${name}: ${variable}`).toMatch(new RegExp(`^\\$\\{${variable}(:\\?[^}]+|:-)\\}$`));
      }
    }
    // Without the two variables compose refuses to start, naming the one that is missing.
    expect(() => envOf(compose.services.intake ?? {}, {})).toThrow(/INGEST_API_KEYS|ADMIN_TOKEN/);
    expect(() => envOf(compose.services.intake ?? {}, { INGEST_API_KEYS: SHELL.INGEST_API_KEYS })).toThrow(
      /required variable ADMIN_TOKEN .*set ADMIN_TOKEN/,
    );
    for (const [name, service] of appServices) {
      expect(() => envOf(service, { ADMIN_TOKEN: SHELL.ADMIN_TOKEN }), name).toThrow(
        /required variable INGEST_API_KEYS .*set INGEST_API_KEYS/,
      );
      expect(() => envOf(service, { ...SHELL, INGEST_API_KEYS: '' }), name).toThrow(/INGEST_API_KEYS/);
    }
    // What the shell gives is what the processes get.
    const intake = envOf(compose.services.intake ?? {});
    expect(intake).toMatchObject({ ...SHELL, ADMIN_READONLY_TOKEN: '' });
    expect(
      loadConfig(envOf(compose.services.intake ?? {}, { ...SHELL, ADMIN_READONLY_TOKEN: 'compose-viewer-token-0123' }))
        .ADMIN_READONLY_TOKEN,
    ).toBe('compose-viewer-token-0123');
  });

  it('interpolates the way compose does', () => {
    const shell = { A: 'a', EMPTY: '' };
    expect(interpolate('${A} $A $$A ${B:-b} ${EMPTY:-e} ${EMPTY-e} ${A:+alt} ${B:+alt}', shell)).toBe(
      'a a $A b e  alt ',
    );
    expect(interpolate('${A:?need A}', shell)).toBe('a');
    expect(() => interpolate('${EMPTY:?need it}', shell)).toThrow(/EMPTY .*need it/);
    expect(interpolate('${EMPTY?need it}', shell)).toBe('');
    expect(() => interpolate('${B?need B}', shell)).toThrow(/B .*need B/);
  });

  it('sets only variables config.ts knows, with values it accepts once compose has filled in the shell variables', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const env = envOf(service);
      for (const variable of Object.keys(env)) expect(known.has(variable), `${name}: ${variable}`).toBe(true);
      if (Object.keys(env).length > 0) expect(() => loadConfig(env), name).not.toThrow();
    }
  });

  it('binds every app service on all interfaces, so its published port and the other containers reach it', () => {
    for (const [name, service] of appServices) {
      // Set in the file, not left to the keys: unset HOST binds 127.0.0.1 whenever keys are missing.
      expect(service.environment?.HOST, name).toBe('0.0.0.0');
      expect(loadConfig(envOf(service)).HOST, name).toBe('0.0.0.0');
      expect(loadConfig({ ...envOf(service), NODE_ENV: 'development', INGEST_API_KEYS: '' }).HOST, name).toBe(
        '0.0.0.0',
      );
    }
  });

  it('runs intake and every worker role as services, the workers scalable (no published port)', () => {
    expect(compose.services.intake?.command).toEqual(['node', 'dist/workers/intake.js']);
    for (const role of ['map', 'flusher', 'deliver']) {
      expect(compose.services[role]?.command).toEqual(['node', `dist/workers/${role}.js`]);
      expect(compose.services[role]?.ports, role).toBeUndefined();
    }
  });

  it('publishes the simulator (no credentials) on 127.0.0.1 only', () => {
    const ports = compose.services.simulator?.ports ?? [];
    expect(ports.length).toBeGreaterThan(0);
    for (const mapping of ports) expect(mapping).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
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
    expect(readFileSync(resolve(ROOT, 'src/simulator/routes-fetch.ts'), 'utf8')).toContain(
      "'/rest/v1/profiles/:tntId'",
    );
    expect(simulator.ports?.map((p) => Number(p.split(':').at(-1)))).toEqual([port]);
    for (const [name, service] of appServices) {
      expect(loadConfig(envOf(service)).TARGET_BASE_URL, name).toBe(`http://simulator:${port}`);
    }
  });
});
