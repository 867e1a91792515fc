import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, newRedis, redisUrl, scanKeys, uniquePrefix } from '../harness/context.js';
import { runBuilt } from '../harness/spawn-process.js';

describe('target-ingest import (built CLI)', () => {
  let redis: Redis;
  let dir: string;
  const prefix = uniquePrefix('cli-import');
  const env = (): Record<string, string> => ({ REDIS_URL: redisUrl(), REDIS_PREFIX: prefix });

  beforeAll(() => {
    redis = newRedis();
    dir = mkdtempSync(join(tmpdir(), 'ti-cli-import-'));
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports a CSV with mapped columns, prints a summary, and knows when a file is done', async () => {
    const file = join(dir, 'till-7.csv');
    writeFileSync(
      file,
      'receipt,type,occurredAt,customer,data.storeId,data.points\nr-1,loyalty_card_used,2026-11-21T10:00:00Z,CRM-1,S1,10\nr-2,loyalty_card_used,2026-11-21T10:01:00Z,CRM-2,S1,ten\n',
    );
    const args = [
      'import',
      file,
      '--source',
      'till-7',
      '--map',
      'receipt=id',
      '--map',
      'customer=visitor.mbox3rdPartyId',
      '--rejects',
      join(dir, 'rejects.ndjson'),
    ];
    const run = runBuilt('src/cli.js', env(), args);
    expect(await run.exited, run.lines.join('\n')).toBe(0);
    const output = run.lines.join('\n');
    expect(output).toContain('import of till-7.csv as source "till-7": completed');
    expect(output).toMatch(/accepted {3}1\n {2}duplicates 0\n {2}rejected {3}1, listed in .*rejects\.ndjson/);
    expect(output).toMatch(/elapsed {4}\d+\.\d s, [\d,]+ lines\/s\n {2}peak RSS {3}\d+ MB/);
    expect(JSON.parse(readFileSync(join(dir, 'rejects.ndjson'), 'utf8'))).toEqual({
      line: 3,
      errors: ['data.points: expected a number, got "ten"'],
      event: {
        id: 'r-2',
        type: 'loyalty_card_used',
        occurredAt: '2026-11-21T10:01:00Z',
        visitor: { mbox3rdPartyId: 'CRM-2' },
        data: { storeId: 'S1', points: 'ten' },
      },
    });

    const again = runBuilt('src/cli.js', env(), args);
    expect(await again.exited).toBe(0);
    expect(again.lines.join('\n')).toContain('already imported (nothing to do; --restart reads it again)');
  });

  it('stops with exit code 2 and every column problem, before reading any row', async () => {
    const file = join(dir, 'bad.csv');
    writeFileSync(file, 'id,kind,when\nx,y,z\n');
    const run = runBuilt('src/cli.js', env(), ['import', file]);
    expect(await run.exited).toBe(2);
    const output = run.lines.join('\n');
    expect(output).toMatch(/^target-ingest import: cannot import:/);
    expect(output).toContain('column 2 "kind" is not an event field');
    expect(output).toContain('no column gives occurredAt');
  });

  it('stops with exit code 1 and the host (never the URL) when Redis does not answer', async () => {
    const file = join(dir, 'x.ndjson');
    writeFileSync(file, '{}\n');
    const run = runBuilt('src/cli.js', { REDIS_URL: 'redis://:secret-password@127.0.0.1:1' }, ['import', file]);
    expect(await run.exited).toBe(1);
    expect(run.lines.join('\n')).toBe(
      'target-ingest import: no Redis answers at 127.0.0.1:1; start it or pass --redis-url',
    );
  });

  it('stops with exit code 2 and a clear message on bad options, before touching Redis', async () => {
    const file = join(dir, 'never-read.ndjson');
    writeFileSync(
      file,
      `${JSON.stringify({ id: 'opt-1', type: 'kiosk_visit', occurredAt: '2026-11-21T10:00:00Z', visitor: { mbox3rdPartyId: 'CRM-1' }, data: { kioskId: 'K1' } })}\n`,
    );
    const cases: Array<{ args: string[]; message: string }> = [
      {
        args: ['import', file, '--batch-size', '0'],
        message:
          "target-ingest import: option '--batch-size <n>' argument '0' is invalid. expected a whole number from 1 to 10000",
      },
      { args: ['import', file, '--bogus'], message: "target-ingest import: unknown option '--bogus'" },
      {
        args: ['import', file, '--format', 'xml'],
        message: "target-ingest import: option '--format <format>' argument 'xml' is invalid. expected csv or ndjson",
      },
      { args: ['import'], message: "target-ingest import: missing required argument 'file'" },
    ];
    const untouched = uniquePrefix('cli-opts');
    for (const { args, message } of cases) {
      const run = runBuilt('src/cli.js', { ...env(), REDIS_PREFIX: untouched }, args);
      expect(await run.exited, args.join(' ')).toBe(2);
      expect(run.lines).toEqual([message, '(target-ingest import --help lists the options)']);
    }
    const help = runBuilt('src/cli.js', env(), ['import', '--help']);
    expect(await help.exited).toBe(0);
    expect(help.lines[0]).toBe('Usage: target-ingest import [options] <file>');
    expect(await scanKeys(redis, `*${untouched}*`)).toEqual([]);
  });

  it('runs with NODE_ENV=production without the delivery and HTTP intake settings it never uses', async () => {
    const file = join(dir, 'prod.ndjson');
    writeFileSync(
      file,
      `${JSON.stringify({ id: 'prod-1', type: 'kiosk_visit', occurredAt: '2026-11-21T10:00:00Z', visitor: { mbox3rdPartyId: 'CRM-9' }, data: { kioskId: 'K9' } })}\n`,
    );
    // No TARGET_CLIENT_CODE, no INGEST_API_KEYS, and a PORT the import does not read.
    const production = { ...env(), NODE_ENV: 'production', PORT: 'not-a-port', ADMIN_TOKEN: 'short' };
    const run = runBuilt('src/cli.js', production, ['import', file, '--source', 'prod', '--json']);
    expect(await run.exited, run.lines.join('\n')).toBe(0);
    expect(JSON.parse(run.lines.at(-1) ?? '')).toMatchObject({ accepted: 1, duplicates: 0, rejected: 0 });

    // What it does read is still checked, and only that is listed.
    const bad = runBuilt('src/cli.js', { ...production, DEDUPE_WINDOW_MS: 'a week', REDIS_SHARDS: '0' }, [
      'import',
      file,
      '--source',
      'prod',
    ]);
    expect(await bad.exited).toBe(2);
    expect(bad.lines).toEqual([
      'target-ingest import: invalid configuration:',
      '  - REDIS_SHARDS: expected 1-1024, got 0',
      '  - DEDUPE_WINDOW_MS: expected a whole number, got "a week"',
    ]);
  });
});
