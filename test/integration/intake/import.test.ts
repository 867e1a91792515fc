import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveMapping } from '../../../src/events/index.js';
import { CheckpointStore } from '../../../src/intake/import/checkpoint.js';
import { parseColumnMap } from '../../../src/intake/import/csv-columns.js';
import { importFile, type ImportOptions } from '../../../src/intake/import/import-file.js';
import { ImportSetupError } from '../../../src/intake/import/records.js';
import { openIntake, type IntakeHandle } from '../../../src/intake/intake-deps.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';
import { ingestEvents } from '../../../src/jobs/ingest-rows.js';

describe('importFile (NDJSON and CSV into a real Redis)', () => {
  let redis: Redis;
  let dir: string;
  const handles: Array<{ prefix: string; intake: IntakeHandle }> = [];

  /** A fresh pipeline prefix with its intake and checkpoint store. */
  function pipeline() {
    const prefix = uniquePrefix('imp');
    const intake = openIntake(redis, {
      prefix,
      dedupeWindowMs: 3_600_000,
      mapping: resolveMapping(),
      maxValueLength: 256,
    });
    handles.push({ prefix, intake });
    const deps = { intake: intake.deps, checkpoints: new CheckpointStore(redis, prefix, 3_600_000) };
    const stored = async (): Promise<Array<Record<string, unknown> & { source: string }>> => {
      const jobs = await intake.deps.ingestQueue.getJobs(['wait']);
      return (
        jobs
          // Job ids are `intake-<n>` (or plain numbers): in the order intake stored them.
          .sort((a, b) => Number(a.id?.replace(/\D/g, '')) - Number(b.id?.replace(/\D/g, '')))
          .flatMap((j) =>
            ingestEvents(j.data).map((e) => ({ ...(e as Record<string, unknown>), source: j.data.source })),
          )
      );
    };
    return {
      deps,
      stored,
      run: (options: ImportOptions, signal?: AbortSignal, onProgress?: () => void) =>
        importFile(options, deps, { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) }),
    };
  }

  beforeAll(() => {
    redis = newRedis();
    dir = mkdtempSync(join(tmpdir(), 'ti-import-'));
  });
  afterAll(async () => {
    for (const { prefix, intake } of handles) {
      await intake.close();
      await deletePrefix(redis, prefix);
    }
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports CSV: renamed and ignored columns, typed cells, empty cells absent, rejects by line with private fields redacted', async () => {
    const file = join(dir, 'till.csv');
    writeFileSync(
      file,
      [
        'id,type,occurredAt,customer,data.storeId,pts,data.tier,data.cardId,internal_ref',
        'pos-1,loyalty_card_used,2026-11-21T10:00:00Z,CRM-1,S1,120,gold,6011000990139424,x',
        '',
        'pos-2,loyalty_card_used,2026-11-21T11:00:00Z,CRM-2,"S2, ""north""",,,,y',
        'pos-3,loyalty_card_used,2026-11-21T12:00:00Z,CRM-3,S3,"12,50",gold,6011000990139424,z',
        'pos-4,kiosk_visit,2026-11-21T12:00:00Z,CRM-4,"multi',
        'line",,,,',
        'pos-5,loyalty_card_used,2026-11-21T13:00:00Z,CRM-5,S5,1',
        'pos-6,loan_funded,2026-11-21T13:00:00Z,CRM-6,,,,,',
      ].join('\r\n') + '\r\n',
    );
    const { run, stored } = pipeline();
    const columnMap = parseColumnMap(['customer=visitor.mbox3rdPartyId', 'pts=data.points', 'internal_ref=']);
    const summary = await run({ file, source: 'pos-eu', columnMap });
    expect(summary).toMatchObject({
      status: 'completed',
      lines: 9,
      accepted: 2,
      duplicates: 0,
      rejected: 4,
      rejectsPath: `${file}.rejects.ndjson`,
    });
    expect(await stored()).toEqual([
      {
        id: 'pos-1',
        type: 'loyalty_card_used',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mbox3rdPartyId: 'CRM-1' },
        data: { storeId: 'S1', points: 120, tier: 'gold', cardId: '6011000990139424' },
        source: 'pos-eu',
      },
      {
        id: 'pos-2',
        type: 'loyalty_card_used',
        occurredAt: '2026-11-21T11:00:00Z',
        visitor: { mbox3rdPartyId: 'CRM-2' },
        data: { storeId: 'S2, "north"' },
        source: 'pos-eu',
      },
    ]);
    const rejects = readFileSync(`${file}.rejects.ndjson`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; errors: string[]; event?: unknown });
    // Line numbers as an editor shows them, across a blank line and a cell holding a CRLF.
    expect(rejects.map((r) => [r.line, r.errors[0]])).toEqual([
      [5, 'data.points: expected a number, got "12,50"'],
      [6, 'data.kioskId: required for kiosk_visit'],
      [8, 'has 6 cells; the header has 9'],
      [9, 'data.loanId: required for loan_funded'],
    ]);
    expect(rejects[0]?.event).toMatchObject({ id: 'pos-3', data: { cardId: '[redacted]' } });
    expect(JSON.stringify(rejects)).not.toContain('6011000990139424');
  });

  it('refuses a CSV whose columns it cannot place, listing every problem before reading a row', async () => {
    const file = join(dir, 'odd.csv');
    writeFileSync(
      file,
      'id,kind,occurredAt,data.storeId,data.storeId\npos-1,loyalty_card_used,2026-11-21T10:00:00Z,S1,S1\n',
    );
    const { run, stored } = pipeline();
    const error = await run({ file, source: 'pos', columnMap: parseColumnMap(['till=data.tillId']) }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ImportSetupError);
    expect((error as ImportSetupError).problems).toEqual([
      'column 2 "kind" is not an event field: name it id, type, occurredAt, visitor.mboxPC, visitor.mbox3rdPartyId, visitor.ecid or data.<field>, or map it with --map kind=data.<field> (--map kind= ignores it)',
      'column 5 "data.storeId" gives data.storeId like column 4',
      '--map till=…: the header has no column "till"',
      'no column gives type',
      'no column gives the visitor (visitor.mbox3rdPartyId or visitor.mboxPC)',
    ]);
    expect(await stored()).toEqual([]);
  });

  function ndjsonFile(name: string, lines: number): string {
    const file = join(dir, name);
    const rows = Array.from({ length: lines }, (_, i) =>
      i % 10 === 9
        ? `{"id":"n-${i}","type":"kiosk_visit"`
        : JSON.stringify({
            id: `n-${i}`,
            type: 'kiosk_visit',
            occurredAt: '2026-11-21T10:00:00Z',
            visitor: { mbox3rdPartyId: `CRM-${i % 7}` },
            data: { kioskId: `K${i}` },
          }),
    );
    writeFileSync(file, rows.join('\n') + '\n');
    return file;
  }

  it('resumes after an interruption from the last stored batch: each event stored once, each reject listed once', async () => {
    const file = ndjsonFile('resume.ndjson', 1000);
    const { run, stored } = pipeline();
    const stop = new AbortController();
    let batches = 0;
    const first = await run({ file, source: 'pos', batchSize: 100 }, stop.signal, () => {
      if (++batches === 4) stop.abort();
    });
    expect(first).toMatchObject({ status: 'interrupted', lines: 400, accepted: 360, rejected: 40 });
    // As if the next batch had written its rejects when the process died, before its checkpoint.
    appendFileSync(`${file}.rejects.ndjson`, '{"line":410,"errors":["from an unfinished batch"]}\n');

    const second = await run({ file, source: 'pos', batchSize: 100 });
    expect(second).toMatchObject({
      status: 'completed',
      lines: 1000,
      resumedAfterLine: 400,
      linesThisRun: 600,
      accepted: 900,
      duplicates: 0,
      rejected: 100,
    });
    const ids = (await stored()).map((e) => e.id);
    expect(ids).toHaveLength(900);
    expect(new Set(ids).size).toBe(900);
    const rejects = readFileSync(`${file}.rejects.ndjson`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; errors: string[] });
    expect(rejects.map((r) => r.line)).toEqual(Array.from({ length: 100 }, (_, i) => i * 10 + 10));
    expect(rejects[0]?.errors).toEqual(['not valid JSON: unexpected end of input at column 33']);

    expect(await run({ file, source: 'pos' })).toMatchObject({
      status: 'already-imported',
      accepted: 900,
      rejected: 100,
      linesThisRun: 0,
    });
  });

  it('reports every event as a duplicate when a finished file is read again with restart', async () => {
    const file = ndjsonFile('again.ndjson', 50);
    const { run, stored } = pipeline();
    expect(await run({ file, source: 'pos' })).toMatchObject({ status: 'completed', accepted: 45, rejected: 5 });
    expect(await run({ file, source: 'pos', restart: true })).toMatchObject({
      status: 'completed',
      accepted: 0,
      duplicates: 45,
      rejected: 5,
    });
    // The same ids from another source are other events.
    expect(await run({ file, source: 'kiosk' })).toMatchObject({ status: 'completed', accepted: 45 });
    expect(await stored()).toHaveLength(90);
  });

  it('resumes a CSV after its header, with line numbers that continue', async () => {
    const file = join(dir, 'resume.csv');
    const rows = Array.from(
      { length: 30 },
      (_, i) => `c-${i},kiosk_visit,2026-11-21T10:00:00Z,CRM-${i},${i === 25 ? '' : `K${i}`}`,
    );
    writeFileSync(file, ['id,type,occurredAt,visitor.mbox3rdPartyId,data.kioskId', ...rows].join('\n'));
    const { run, stored } = pipeline();
    const stop = new AbortController();
    expect(await run({ file, source: 'pos', batchSize: 10 }, stop.signal, () => stop.abort())).toMatchObject({
      status: 'interrupted',
      lines: 11,
      accepted: 10,
    });
    expect(await run({ file, source: 'pos', batchSize: 10 })).toMatchObject({
      status: 'completed',
      lines: 31,
      resumedAfterLine: 11,
      accepted: 29,
      rejected: 1,
    });
    expect(readFileSync(`${file}.rejects.ndjson`, 'utf8')).toMatch(
      /^\{"line":27,"errors":\["data\.kioskId: required for kiosk_visit"\]/,
    );
    expect(new Set((await stored()).map((e) => e.id)).size).toBe(29);
  });

  it('reads NDJSON lines as written: CRLF, blank lines, no final line break, bad bytes and an overlong line each by line number', async () => {
    const file = join(dir, 'odd.ndjson');
    const ok = (id: string): string =>
      JSON.stringify({
        id,
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mboxPC: 'pc-1' },
        data: { kioskId: 'K1' },
      });
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(`${ok('o-1')}\r\n\r\n   \n`),
        Buffer.from([0x7b, 0xc0, 0x7d, 0x0a]),
        Buffer.from(`{"id":"${'x'.repeat(1024 * 1024)}"}\n${ok('o-2')}`),
      ]),
    );
    const { run, stored } = pipeline();
    expect(await run({ file, source: 'pos' })).toMatchObject({
      status: 'completed',
      lines: 6,
      accepted: 2,
      rejected: 2,
    });
    expect((await stored()).map((e) => e.id)).toEqual(['o-1', 'o-2']);
    const rejects = readFileSync(`${file}.rejects.ndjson`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; errors: string[] });
    expect(rejects).toEqual([
      { line: 4, errors: ['not valid UTF-8 (first bad byte at offset 1 of the line)'] },
      { line: 5, errors: ['line is longer than 1048576 bytes'] },
    ]);
  });
});
