import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingestJobWithout, stripFailedIngestJobs } from '../../../src/erasure/ingest-jobs.js';
import type { IngestJob } from '../../../src/jobs/catalog.js';
import { toIngestRow } from '../../../src/jobs/ingest-rows.js';
import { openQueue, type PipelineQueues } from '../../../src/jobs/queues.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';

const FORGOTTEN = 'CRM-FORGET';
const GONE: ReadonlySet<string> = new Set([`3p:${FORGOTTEN}`]);
const HOUR = 3_600_000;

function event(visitor: Record<string, string>, n: number, id = `e-${n}`) {
  return {
    id,
    type: 'loyalty_card_used',
    occurredAt: '2026-11-21T10:00:00Z',
    visitor,
    data: { storeId: `S${n}`, cardNumber: '4111111111111111' },
  };
}
const forgotten = (n: number) => event({ mbox3rdPartyId: FORGOTTEN }, n, `forgotten-${n}`);
const kept = (n: number) => event({ mbox3rdPartyId: 'CRM-KEEP' }, n);
// The same id as a mboxPC is another visitor: it stays.
const samePcId = (n: number) => event({ mboxPC: FORGOTTEN }, n);
// An id that starts like the forgotten one's stays.
const longerId = (n: number) => event({ mbox3rdPartyId: `${FORGOTTEN}2` }, n);

function rowsJob(events: unknown[]): IngestJob {
  return { source: 'pos', receivedAt: 1_796_000_000_000, rows: events.map(toIngestRow), checkedEnvelope: 1 };
}

describe("a forgotten visitor's events in failed ingest jobs", () => {
  let redis: Redis;
  let prefix: string;
  let queue: PipelineQueues['ingest'];

  beforeEach(() => {
    redis = newRedis();
    prefix = uniquePrefix('ingest-forget');
    queue = openQueue('ingest', redis, { redisPrefix: prefix, keepCompleted: false });
  });
  afterEach(async () => {
    await queue.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  /** Moves a delayed job to the failed set, as BullMQ keeps one that spent its attempts. */
  async function fail(id: string | undefined): Promise<void> {
    const { delayed, failed } = queue.keys;
    if (delayed === undefined || failed === undefined || id === undefined) throw new Error('BullMQ queue keys changed');
    await redis.zrem(delayed, id);
    await redis.zadd(failed, Date.now(), id);
  }

  it('are taken out of failed jobs past the first page, a job with nothing else removed, others untouched', async () => {
    // 250 failed jobs of others: the forgotten visitor's come on the second page.
    const others = await queue.addBulk(
      Array.from({ length: 250 }, (_, n) => ({ name: 'events', data: rowsJob([kept(n)]), opts: { delay: HOUR } })),
    );
    for (const job of others) await fail(job.id);
    const mixedRows = await queue.add('events', rowsJob([kept(1), forgotten(2), samePcId(3), longerId(4)]), {
      delay: HOUR,
    });
    await fail(mixedRows.id);
    const onlyIt = await queue.add('events', rowsJob([forgotten(5), forgotten(6)]), { delay: HOUR });
    await fail(onlyIt.id);
    // Failed, in the events form of a replayed dead letter.
    const replayed = await queue.add(
      'events',
      { source: 'pos', receivedAt: 1, events: [forgotten(7), kept(8)] },
      { delay: HOUR },
    );
    await fail(replayed.id);
    // Retrying (delayed) and waiting: their merge drops a forgotten visitor's events, and one
    // that fails for good is stripped as it fails (src/map/role.ts).
    const retrying = await queue.add('events', rowsJob([forgotten(9), kept(9)]), { delay: HOUR });
    const waiting = await queue.add('events', rowsJob([forgotten(10)]));

    expect(await stripFailedIngestJobs(queue, redis, GONE)).toEqual({ removed: 1, edited: 2 });

    expect(await queue.getJob(String(onlyIt.id))).toBeUndefined();
    const mixed = await queue.getJob(String(mixedRows.id));
    expect(mixed?.data).toEqual(rowsJob([kept(1), samePcId(3), longerId(4)]));
    expect(await mixed?.getState()).toBe('failed');
    expect((await queue.getJob(String(replayed.id)))?.data).toEqual({
      source: 'pos',
      receivedAt: 1,
      events: [kept(8)],
    });
    expect((await queue.getJob(String(retrying.id)))?.data).toEqual(rowsJob([forgotten(9), kept(9)]));
    expect((await queue.getJob(String(waiting.id)))?.data).toEqual(rowsJob([forgotten(10)]));
    expect(await queue.getFailedCount()).toBe(252);
    // Nothing of it is left in the failed jobs' stored data.
    const stored = await Promise.all(
      [...others, mixedRows, replayed].map((job) => redis.hget(queue.toKey(String(job.id)), 'data')),
    );
    expect(stored.filter((data) => data?.includes(`"${FORGOTTEN}"`) === true)).toHaveLength(1); // the mboxPC one
    expect(stored.join('')).not.toMatch(/forgotten-/);
  });

  it('loses nothing when several forgets rewrite the same job at once', async () => {
    const visitors = Array.from({ length: 8 }, (_, n) => `CRM-GONE-${n}`);
    const job = await queue.add(
      'events',
      rowsJob([...visitors.map((v, n) => event({ mbox3rdPartyId: v }, n, `gone-${n}`)), kept(99)]),
      { delay: HOUR },
    );
    await fail(job.id);
    const results = await Promise.all(visitors.map((v) => stripFailedIngestJobs(queue, redis, new Set([`3p:${v}`]))));
    expect(results.reduce((n, r) => n + r.edited, 0)).toBe(visitors.length);
    expect((await queue.getJob(String(job.id)))?.data).toEqual(rowsJob([kept(99)]));
  });

  it('keeps a malformed row as it was stored, and leaves a job without the visitor as it is', () => {
    const job: IngestJob = {
      source: 'pos',
      receivedAt: 1,
      rows: [['only', 'three', 'fields'], toIngestRow(forgotten(1))],
    };
    expect(ingestJobWithout(job, GONE)).toEqual({ ...job, rows: [['only', 'three', 'fields']] });
    expect(ingestJobWithout({ source: 'pos', receivedAt: 1, events: [forgotten(1)] }, GONE)).toBeNull();
    expect(ingestJobWithout({ source: 'pos', receivedAt: 1, events: [kept(1)] }, GONE)).toBeUndefined();
  });
});
