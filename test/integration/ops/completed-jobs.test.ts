import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_ROLES } from '../../../src/pipeline.js';
import { newRedis } from '../../harness/context.js';
import { waitFor } from '../../harness/pipeline.js';
import { startOpsServer, type OpsServer } from './ops-server.js';

/**
 * What a kept completed job costs (docs/operations.md, "What the board shows"): once done, an
 * ingest job keeps its source and counts but not its raw events, a delivery or status job its
 * claim and Target's batch links but not its visitor keys. A till's batch of 1,000 events
 * for 1,000 visitors, delivered by bulk, leaves three kept jobs of at most 2 KB each in
 * Redis, as small as a flush tick's, and none of them names a visitor.
 */
const SOURCE = 'pos-de';
const API_KEY = 'pos-de-key-9a8b7c6d5e4f3a21';
const EVENTS = 1000;
/** Bytes of Redis one kept completed job may cost (its hash), whatever it carried: the bound docs/operations.md states. */
const KEPT_JOB_BYTES = 2048;
const at = (minutesAgo: number): string => new Date(Date.now() - minutesAgo * 60_000).toISOString();
const visitorId = (i: number): string => `CRM-KEPT-${String(i).padStart(5, '0')}`;

describe('a completed job kept for the board', () => {
  let ops: OpsServer;
  let rowsApplied = 0;
  const redis = newRedis();

  /** The one completed job of a queue, once its worker cleared it, and its size in Redis. */
  async function keptJob(queue: Queue): Promise<{ data: Record<string, unknown>; bytes: number; fields: string[] }> {
    let ids: string[] = [];
    const cleared = async (): Promise<boolean> => {
      const jobs = await queue.getCompleted();
      ids = jobs.map((j) => j.id ?? '');
      return jobs.length === 1 && 'cleared' in (jobs[0]?.data as object);
    };
    expect(await waitFor(cleared, 10_000), `${queue.name}: one completed job, cleared`).toBe(true);
    const [id] = ids;
    const key = queue.toKey(id ?? '');
    const job = await queue.getJob(id ?? '');
    const hash = await redis.hgetall(key);
    return {
      data: job?.data as Record<string, unknown>,
      bytes: Number(await redis.memory('USAGE', key, 'SAMPLES', '0')),
      fields: Object.values(hash),
    };
  }

  beforeAll(async () => {
    ops = await startOpsServer({
      roles: ALL_ROLES,
      env: { INGEST_API_KEYS: `${SOURCE}:${API_KEY}`, DELIVERY_MODE: 'bulk', BULK_STATUS_POLL_MS: '100' },
    });
    ops.simulator.store.onWrite((write) => {
      if (write.via === 'bulk') rowsApplied += 1;
    });
    const events = Array.from({ length: EVENTS }, (_, i) => ({
      id: `ev-kept-${i}`,
      type: 'kiosk_visit',
      occurredAt: at(10),
      visitor: { mbox3rdPartyId: visitorId(i) },
      data: { kioskId: `K${i % 40}` },
    }));
    const response = await fetch(`${ops.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(response.status).toBe(202);
    expect(await waitFor(() => rowsApplied === EVENTS, 20_000)).toBe(true);
  });
  afterAll(async () => {
    await ops?.close();
    await redis.quit();
  });

  it('an ingest job keeps its source and count, not its 1,000 raw events', async () => {
    const kept = await keptJob(ops.pipeline.queues.ingest);
    expect(kept.data).toMatchObject({ source: SOURCE, rows: [], cleared: { events: EVENTS } });
    expect(kept.bytes, 'MEMORY USAGE of the kept job').toBeLessThan(KEPT_JOB_BYTES);

    expect(kept.fields.some((f) => f.includes('CRM-KEPT-'))).toBe(false);
  });

  it('a bulk delivery job keeps its claim, not its visitor keys', async () => {
    const kept = await keptJob(ops.pipeline.queues.deliverBulk);
    expect(kept.data).toMatchObject({ visitors: [], cleared: { visitors: EVENTS } });
    expect(typeof kept.data.claimId).toBe('string');
    expect(kept.bytes, 'MEMORY USAGE of the kept job').toBeLessThan(KEPT_JOB_BYTES);

    expect(kept.fields.some((f) => f.includes('CRM-KEPT-'))).toBe(false);
  });

  it("a bulk status job keeps Target's batch link (its totals are the return value), not its visitor keys", async () => {
    const kept = await keptJob(ops.pipeline.queues.bulkStatus);
    expect(kept.data).toMatchObject({ cleared: { visitors: EVENTS } });
    const batches = kept.data.batches as Array<{ statusUrl: string; visitors: string[] }>;
    expect(batches.length).toBeGreaterThan(0);
    for (const batch of batches) {
      expect(batch.visitors).toEqual([]);
      expect(batch.statusUrl).not.toBe('');
    }
    expect(kept.bytes, 'MEMORY USAGE of the kept job').toBeLessThan(KEPT_JOB_BYTES);

    expect(kept.fields.some((f) => f.includes('CRM-KEPT-'))).toBe(false);
  });

  it('costs about what a kept flush tick costs, which carries no data', async () => {
    const [tick] = await ops.pipeline.queues.flush.getCompleted(0, 0);
    const key = ops.pipeline.queues.flush.toKey(tick?.id ?? '');
    const bytes = Number(await redis.memory('USAGE', key, 'SAMPLES', '0'));
    expect(bytes).toBeGreaterThan(0);
    expect(bytes, 'MEMORY USAGE of a kept tick').toBeLessThan(KEPT_JOB_BYTES);
  });

  it('clears every kept job without a warning', () => {
    expect(ops.logLines.filter((l) => l.includes('could not clear'))).toEqual([]);
  });
});
