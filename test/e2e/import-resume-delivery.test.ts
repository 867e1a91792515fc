import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveMapping } from '../../src/events/index.js';
import { CheckpointStore } from '../../src/intake/import/checkpoint.js';
import { importFile } from '../../src/intake/import/import-file.js';
import { openIntake, type IntakeHandle } from '../../src/intake/intake-deps.js';
import { deletePrefix, newRedis } from '../harness/context.js';
import { startTestPipeline, waitFor, type TestPipeline } from '../harness/pipeline.js';

const EVENTS = 20_000;
const VISITORS = 200;
const BASE = Date.UTC(2026, 10, 1);

/** Event i: visitor i % 200, at a scrambled time so arrival order is not event order. */
function eventAt(i: number): {
  id: string;
  type: string;
  occurredAt: string;
  visitor: { mbox3rdPartyId: string };
  data: { storeId: string; points: number };
} {
  const minute = (i * 7919) % EVENTS;
  return {
    id: `pos-${i}`,
    type: 'loyalty_card_used',
    occurredAt: new Date(BASE + minute * 60_000).toISOString(),
    visitor: { mbox3rdPartyId: `CRM-${i % VISITORS}` },
    data: { storeId: `S${i}`, points: i },
  };
}

describe('import interrupted half way and run again → whole pipeline → simulator', () => {
  let redis: Redis;
  let running: TestPipeline;
  let intake: IntakeHandle;
  let dir: string;

  beforeAll(async () => {
    redis = newRedis();
    running = await startTestPipeline();
    intake = openIntake(redis, {
      prefix: running.prefix,
      dedupeWindowMs: running.config.DEDUPE_WINDOW_MS,
      mapping: resolveMapping(),
      maxValueLength: 256,
    });
    dir = mkdtempSync(join(tmpdir(), 'ti-import-e2e-'));
  });
  afterAll(async () => {
    await intake.close();
    await running.close();
    await deletePrefix(redis, running.prefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`delivers each of ${EVENTS} events once, with last-write-wins values`, async () => {
    const file = join(dir, 'eod.ndjson');
    writeFileSync(file, Array.from({ length: EVENTS }, (_, i) => JSON.stringify(eventAt(i))).join('\n') + '\n');
    const deps = { intake: intake.deps, checkpoints: new CheckpointStore(redis, running.prefix, 3_600_000) };

    const stop = new AbortController();
    const first = await importFile({ file, source: 'pos' }, deps, {
      signal: stop.signal,
      onProgress: (p) => p.lines >= EVENTS / 2 && stop.abort(),
    });
    expect(first).toMatchObject({ status: 'interrupted', lines: EVENTS / 2, accepted: EVENTS / 2 });
    const second = await importFile({ file, source: 'pos' }, deps);
    expect(second).toMatchObject({
      status: 'completed',
      lines: EVENTS,
      resumedAfterLine: EVENTS / 2,
      accepted: EVENTS,
      duplicates: 0,
      rejected: 0,
    });

    const { store } = running.pipeline;
    // Each event the merge takes ends as applied, superseded (a newer value was there) or
    // late (older than what Target already has); a second copy would count as duplicate.
    const taken = (stats: Record<string, number>): number =>
      (stats.events_applied ?? 0) + (stats.events_superseded ?? 0) + (stats.events_late_dropped ?? 0);
    // Pending and in flight read at once (backlog): read one after the other, an ack between
    // the two reads (a visitor's lease goes, its newer values become due) made both 0 while
    // values still waited, and the simulator was read before they landed.
    const settled = async (): Promise<boolean> => {
      if (taken(await store.stats()) < EVENTS) return false;
      const { pending, inFlight } = await store.backlog();
      return pending === 0 && inFlight === 0;
    };
    expect(await waitFor(settled, 30_000, 100)).toBe(true);
    const stats = await store.stats();
    // Every event was taken by the merge exactly once: none twice, none lost.
    expect(taken(stats)).toBe(EVENTS);
    expect(stats.events_duplicate ?? 0).toBe(0);

    const latest = new Map<string, ReturnType<typeof eventAt>>();
    for (let i = 0; i < EVENTS; i++) {
      const e = eventAt(i);
      const seen = latest.get(e.visitor.mbox3rdPartyId);
      if (seen === undefined || e.occurredAt > seen.occurredAt) latest.set(e.visitor.mbox3rdPartyId, e);
    }
    for (const [visitor, e] of latest) {
      expect(running.simulator.store.get('thirdPartyId', visitor), visitor).toEqual({
        loyaltyLastUsedAt: e.occurredAt,
        loyaltyLastStoreId: e.data.storeId,
        loyaltyLastPoints: String(e.data.points),
      });
    }
    expect(await running.pipeline.queues.deadLetter.count()).toBe(0);
  });
});
