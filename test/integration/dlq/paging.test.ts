import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ACTION_IDS_MAX, CHUNK, DeadLetterAdmin, LIST_SCAN_MAX } from '../../../src/dlq/admin.js';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import { createLogger } from '../../../src/logger.js';
import { deletePrefix } from '../../harness/context.js';
import { startTestPipeline, type TestPipeline } from '../../harness/pipeline.js';
import { ingestEvents } from '../../../src/jobs/ingest-rows.js';

/** Entry i: source `kiosk` every `every`th, else `pos`. */
function letter(i: number, every: number): DeadLetter {
  return {
    stage: 'map',
    source: i % every === 0 ? 'kiosk' : 'pos',
    events: [{ id: `page-${i}` }],
    error: { class: 'ValidationError', code: 'EVENT_INVALID', message: 'm' },
    attempts: 1,
    firstAttemptAt: 1000 + i,
    lastAttemptAt: 1000 + i,
  };
}

const N = 3000;

/**
 * Bounded reads (docs/operations.md, "Dead letters and replay"): a list page used to read the whole queue (all N entries) and replay or
 * purge held every match in memory. A page now reads O(page), a filtered one at most
 * LIST_SCAN_MAX; replay and purge read CHUNK entries at a time.
 */
describe('dead-letter listing pages through the queue; replay and purge stream', () => {
  let running: TestPipeline;
  let admin: DeadLetterAdmin;

  beforeAll(async () => {
    running = await startTestPipeline({}, ['map']);
    admin = new DeadLetterAdmin(
      running.pipeline.queues,
      running.pipeline.store,
      createLogger({ level: 'silent', pretty: false }),
    );
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await running.pipeline.queues.deadLetter.drain();
  });
  afterAll(async () => {
    await running.close();
    await deletePrefix(running.pipeline.redis, running.prefix).catch(() => undefined);
  });

  /** Entries 0 … n−1, the last the newest. */
  async function seed(n: number, every: number): Promise<void> {
    const q = running.pipeline.queues.deadLetter;
    for (let from = 0; from < n; from += 1000) {
      const batch = Array.from({ length: Math.min(1000, n - from) }, (_, k) => from + k);
      await q.addBulk(batch.map((i) => ({ name: 'map', data: letter(i, every) })));
    }
  }
  const idOf = (e: { events?: unknown[] }) => (e.events?.[0] as { id: string }).id;

  it('an unfiltered page reads only its own entries, and the cursor walks every entry once, newest first', async () => {
    await seed(N, 1000);
    const q = running.pipeline.queues.deadLetter;
    const loads = vi.spyOn(q, 'getJob');
    const first = await admin.list({}, { limit: 50 });
    // The whole queue was read for every page before: N job loads for 50 entries.
    expect(loads.mock.calls.length).toBe(50);
    expect(first).toMatchObject({ total: N, queued: N, scanned: 50 });
    expect(first.entries.map(idOf)).toEqual(Array.from({ length: 50 }, (_, k) => `page-${N - 1 - k}`));
    expect(first.next).toEqual(expect.any(String));

    const seen = first.entries.map(idOf);
    let next = first.next;
    let pages = 1;
    while (next !== undefined) {
      loads.mockClear();
      const page = await admin.list({}, { limit: 500, cursor: next });
      expect(loads.mock.calls.length).toBeLessThanOrEqual(500);
      expect(page.total).toBe(N);
      seen.push(...page.entries.map(idOf));
      next = page.next;
      pages += 1;
    }
    expect(pages).toBe(1 + Math.ceil((N - 50) / 500));
    expect(seen).toEqual(Array.from({ length: N }, (_, k) => `page-${N - 1 - k}`));
    // The old offset still works, and reads only its page.
    loads.mockClear();
    expect((await admin.list({}, { offset: 100, limit: 3 })).entries.map(idOf)).toEqual([
      `page-${N - 101}`,
      `page-${N - 102}`,
      `page-${N - 103}`,
    ]);
    expect(loads.mock.calls.length).toBe(3);
  });

  it('a filtered page reads at most LIST_SCAN_MAX entries, answers with a next marker, and knows the total at the end', async () => {
    await seed(N, 1000); // kiosk: entries 0, 1000, 2000
    const q = running.pipeline.queues.deadLetter;
    const loads = vi.spyOn(q, 'getJob');
    const found: string[] = [];
    let next: string | undefined;
    let requests = 0;
    let last: Awaited<ReturnType<DeadLetterAdmin['list']>> | undefined;
    do {
      loads.mockClear();
      last = await admin.list({ source: 'kiosk' }, { limit: 10, ...(next !== undefined ? { cursor: next } : {}) });
      requests += 1;
      // Bounded per request: the scan budget plus the rest of the chunk it stopped in.
      expect(last.scanned).toBeLessThanOrEqual(LIST_SCAN_MAX);
      expect(loads.mock.calls.length).toBeLessThanOrEqual(LIST_SCAN_MAX + CHUNK);
      if (last.next !== undefined) expect(last.total).toBeUndefined();
      found.push(...last.entries.map(idOf));
      next = last.next;
    } while (next !== undefined);
    expect(requests).toBe(Math.ceil(N / LIST_SCAN_MAX));
    expect(found).toEqual(['page-2000', 'page-1000', 'page-0']);
    expect(last.total).toBe(3);

    // A small queue answers in one request with its total, as before.
    expect(await admin.list({ source: 'kiosk' }, { limit: 2 })).toMatchObject({ entries: [{}, {}] });
    // A full page stops reading as soon as it is full.
    loads.mockClear();
    const pos = await admin.list({ source: 'pos' }, { limit: 5 });
    expect(pos.entries).toHaveLength(5);
    expect(loads.mock.calls.length).toBeLessThanOrEqual(CHUNK);
    // The cursor belongs to its filter.
    await expect(admin.list({ source: 'pos' }, { cursor: pos.next ?? '' })).resolves.toMatchObject({
      entries: expect.any(Array) as unknown,
    });
    await expect(admin.list({ source: 'kiosk' }, { cursor: pos.next ?? '' })).rejects.toThrow(
      /^cursor: made for another filter/,
    );
  });

  it('entries written or removed between two pages neither repeat nor skip an entry', async () => {
    await seed(300, 1000);
    const q = running.pipeline.queues.deadLetter;
    const first = await admin.list({}, { limit: 100 });
    // 40 new entries arrive (at the newest end) and 10 of the next page are replayed away.
    await q.addBulk(Array.from({ length: 40 }, (_, k) => ({ name: 'map', data: letter(5000 + k, 1000) })));
    const gone = (await q.getJobs(['waiting'], 140, 149, false)).map((j) => j.data);
    expect(gone.map((d) => idOf(d))).toEqual(Array.from({ length: 10 }, (_, k) => `page-${199 - k}`));
    for (const job of await q.getJobs(['waiting'], 140, 149, false)) await job.remove();
    const second = await admin.list({}, { limit: 100, ...(first.next !== undefined ? { cursor: first.next } : {}) });
    expect(second.entries.map(idOf)).toEqual([...Array.from({ length: 100 }, (_, k) => `page-${189 - k}`)]);
  });

  it('an id left in the list without its job (an evicted job hash) neither stalls nor repeats a walk', async () => {
    await seed(250, 1000);
    const q = running.pipeline.queues.deadLetter;
    const wait = q.toKey('wait');
    // Ghosts at the head and among the first chunk.
    await running.pipeline.redis.lpush(wait, 'ghost-1');
    await running.pipeline.redis.linsert(wait, 'AFTER', (await q.getRanges(['waiting'], 50, 50))[0] ?? '', 'ghost-2');
    const seen: string[] = [];
    let next: string | undefined;
    do {
      const page = await admin.list({}, { limit: 40, ...(next !== undefined ? { cursor: next } : {}) });
      seen.push(...page.entries.map(idOf));
      next = page.next;
    } while (next !== undefined);
    expect(seen).toEqual(Array.from({ length: 250 }, (_, k) => `page-${249 - k}`));
    expect(await admin.purge({ source: 'pos' })).toMatchObject({ matched: 249, done: 249 });
    expect(await admin.purge({ source: 'kiosk' })).toMatchObject({ matched: 1, done: 1 });
    await running.pipeline.redis.lrem(wait, 0, 'ghost-1');
    await running.pipeline.redis.lrem(wait, 0, 'ghost-2');
  });

  it('replay and purge read CHUNK entries at a time, act on every match once, and list at most ACTION_IDS_MAX ids', async () => {
    await seed(N, 2); // kiosk: every even entry, 1,500 of them
    const q = running.pipeline.queues.deadLetter;
    const ranges = vi.spyOn(q, 'getRanges');
    const loads = vi.spyOn(q, 'getJob');
    const dry = await admin.purge({ source: 'kiosk' }, { dryRun: true });
    expect(dry).toMatchObject({ matched: N / 2, done: 0, idsOmitted: N / 2 - ACTION_IDS_MAX });
    expect(dry.ids).toHaveLength(ACTION_IDS_MAX);
    expect(new Set(dry.ids).size).toBe(ACTION_IDS_MAX);
    expect(await q.getWaitingCount()).toBe(N);
    // No read took more than a chunk and the window around it.
    const spans = ranges.mock.calls.map(([, start, end]) => (end ?? 0) - (start ?? 0) + 1);
    expect(Math.max(...spans)).toBeLessThanOrEqual(2 * CHUNK);
    expect(loads.mock.calls.length).toBe(N);

    ranges.mockClear();
    const purged = await admin.purge({ source: 'kiosk' });
    expect(purged).toMatchObject({ matched: N / 2, done: N / 2 });
    expect(Math.max(...ranges.mock.calls.map(([, start, end]) => (end ?? 0) - (start ?? 0) + 1))).toBeLessThanOrEqual(
      2 * CHUNK,
    );
    const left = await q.getJobs(['waiting'], 0, -1, false);
    expect(left).toHaveLength(N / 2);
    expect(left.every((j) => j.data.source === 'pos')).toBe(true);

    // Replay: every match is put back once, entries written meanwhile (at the newest end)
    // are not walked into.
    const putBack = vi.spyOn(running.pipeline.queues.ingest, 'add');
    const replayed = await admin.replay({ source: 'pos', until: 1000 + 1000 });
    expect(replayed).toMatchObject({ matched: 500, done: 500 });
    expect(putBack.mock.calls.map(([, data]) => (ingestEvents(data)[0] as { id: string }).id).sort()).toEqual(
      Array.from({ length: 500 }, (_, k) => `page-${2 * k + 1}`).sort(),
    );
    expect((await admin.list({ source: 'pos', until: 1000 + 1000 }, { limit: 1000 })).total).toBe(0);
  });
});
