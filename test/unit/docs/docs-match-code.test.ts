import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvSchema } from '../../../src/config.js';
import { Metrics } from '../../../src/metrics/metrics.js';
import { OPS_ROUTES } from '../../../src/ops/routes.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const read = (path: string): string => readFileSync(resolve(ROOT, path), 'utf8');
const operations = read('docs/operations.md');
const pages = [
  'README.md',
  ...readdirSync(resolve(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** Variables the docs may name that the schema does not read (see docs/configuration.md). */
const OUTSIDE_SCHEMA = [
  'HTTPS_PROXY',
  'HTTP_PROXY',
  'NO_PROXY',
  'SIMULATOR_AUTH_TOKEN',
  'SIMULATOR_CONTROL_TOKEN',
  'SIMULATOR_FAULTS',
  'NODE_OPTIONS',
  'SEED',
  'CLUSTER_KILL_QUEUE_MASTER',
  'UPDATE_SCREENSHOTS',
  'MERGE_BATCHES',
];

describe('the docs match the code', () => {
  it('docs/operations.md describes every metric the process registers', async () => {
    const names = (await new Metrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.length).toBeGreaterThan(30);
    for (const name of names) expect(operations, name).toContain(`\`${name}\``);
    expect(operations).toContain('`ti_process_*`');
  });

  it('docs/operations.md names every operational route', () => {
    // As a route of its own: `/admin/queues` is not found inside `/admin/queues-readonly`.
    for (const path of Object.values(OPS_ROUTES)) expect(operations, path).toMatch(new RegExp(`[\` ]${path}[\`\\s]`));
  });

  it('names only environment variables that exist', () => {
    const known = new Set([...Object.keys(EnvSchema.shape), ...OUTSIDE_SCHEMA]);
    for (const page of pages) {
      const text = read(page);
      // `NAME`, `NAME=value` and `NAME / OTHER` spellings of upper-case settings with an underscore.
      for (const match of text.matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]+)(?:=[^`]*)?`/g)) {
        const name = match[1] ?? '';
        if (
          /^(TARGET_HTTP|BULK_(ROW|BATCH|VALUE)|UND_ERR|EVENT_|PROFILE_|SINGLE_REQUEST|NO_VALID|INVALID_|EMPTY_|BODY_|TOO_MANY|UNSUPPORTED_|REDIS_(MEMORY|UNAVAILABLE)|SHUTTING_)/.test(
            name,
          )
        )
          continue; // error codes, not settings
        expect(known.has(name), `${page}: ${name}`).toBe(true);
      }
    }
  });

  it('tells docker compose users the two variables docker-compose.yml requires', () => {
    const compose = read('docker-compose.yml');
    for (const name of ['ADMIN_TOKEN', 'INGEST_API_KEYS']) {
      expect(compose).toContain(`\${${name}:?`);
      expect(operations).toMatch(new RegExp(`${name}=\\S+ .*docker compose up`));
    }
  });
});
