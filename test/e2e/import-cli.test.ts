import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, newRedis, redisUrl, uniquePrefix } from '../harness/context.js';
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
    writeFileSync(file, 'receipt,type,occurredAt,customer,data.storeId,data.points\nr-1,loyalty_card_used,2026-11-21T10:00:00Z,CRM-1,S1,10\nr-2,loyalty_card_used,2026-11-21T10:01:00Z,CRM-2,S1,ten\n');
    const args = ['import', file, '--source', 'till-7', '--map', 'receipt=id', '--map', 'customer=visitor.mbox3rdPartyId', '--rejects', join(dir, 'rejects.ndjson')];
    const run = runBuilt('src/cli.js', env(), args);
    expect(await run.exited, run.lines.join('\n')).toBe(0);
    const output = run.lines.join('\n');
    expect(output).toContain('import of till-7.csv as source "till-7": completed');
    expect(output).toMatch(/accepted {3}1\n {2}duplicates 0\n {2}rejected {3}1, listed in .*rejects\.ndjson/);
    expect(output).toMatch(/elapsed {4}\d+\.\d s, [\d,]+ lines\/s\n {2}peak RSS {3}\d+ MB/);
    expect(JSON.parse(readFileSync(join(dir, 'rejects.ndjson'), 'utf8'))).toEqual({
      line: 3,
      errors: ['data.points: expected a number, got "ten"'],
      event: { id: 'r-2', type: 'loyalty_card_used', occurredAt: '2026-11-21T10:01:00Z', visitor: { mbox3rdPartyId: 'CRM-2' }, data: { storeId: 'S1', points: 'ten' } },
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
    expect(run.lines.join('\n')).toBe('target-ingest import: no Redis answers at 127.0.0.1:1; start it or pass --redis-url');
  });
});
