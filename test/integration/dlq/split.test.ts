import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterAdmin } from '../../../src/dlq/admin.js';
import { DEAD_LETTER_MAX_ITEMS, DeadLetters, visitorSources } from '../../../src/dlq/writer.js';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import { createLogger } from '../../../src/logger.js';
import { deletePrefix } from '../../harness/context.js';
import { startTestPipeline, type TestPipeline } from '../../harness/pipeline.js';

/** A stuck bulk claim: `pos` visitors, then `kiosk` ones. */
function stuckClaim(pos: number, kiosk: number): DeadLetter {
  const visitors = Array.from({ length: pos + kiosk }, (_, i) => ({
    vk: `3p:SPLIT-${i}`,
    attributes: { points: { value: String(i), stamp: `2026-11-21T10:00:00.000Z|split-${i}` } },
    sources: [i < pos ? 'pos' : 'kiosk'],
  }));
  return {
    stage: 'deliver-bulk',
    ...visitorSources(visitors),
    visitors,
    error: { class: 'PipelineError', code: 'BULK_BATCH_STUCK', message: 'Target says stuck' },
    attempts: 4,
    firstAttemptAt: Date.now() - 60_000,
    lastAttemptAt: Date.now(),
  };
}

describe('a large dead letter is written as parts', () => {
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
  afterAll(async () => {
    await running.close();
    await deletePrefix(running.pipeline.redis, running.prefix).catch(() => undefined);
  });

  it('splits past DEAD_LETTER_MAX_ITEMS, writes each part once on a retried stage, and replays a part on its own', async () => {
    const q = running.pipeline.queues.deadLetter;
    const writer = new DeadLetters(q);
    const heard: DeadLetter[] = [];
    writer.onAdded((entry) => heard.push(entry));
    const entry = stuckClaim(2 * DEAD_LETTER_MAX_ITEMS, 200);
    // The old writer stored this as one job of every visitor.
    await writer.add(entry, 'bulk-claim-42');
    expect(await q.getWaitingCount()).toBe(3);
    const parts = await Promise.all([1, 2, 3].map((n) => q.getJob(`bulk-claim-42-part-${n}`)));
    expect(parts.map((j) => j?.data.visitors?.length)).toEqual([500, 500, 200]);
    expect(parts.map((j) => j?.data.part)).toEqual([1, 2, 3].map((n) => ({ n, of: 3, group: 'bulk-claim-42' })));
    expect(parts.map((j) => j?.data.source)).toEqual(['pos', 'pos', 'kiosk']);
    // The largest job is a fraction of the whole claim.
    const size = (data: unknown) => JSON.stringify(data).length;
    expect(Math.max(...parts.map((j) => size(j?.data)))).toBeLessThan(size(entry) / 2);

    // The stage retried (a crash after the write): no part is written twice.
    await writer.add(entry, 'bulk-claim-42');
    expect(await q.getWaitingCount()).toBe(3);
    // Metrics hear of one failure per write, not one per part.
    expect(heard).toHaveLength(2);

    // Without a dedupe id the parts share a generated group.
    await writer.add(stuckClaim(DEAD_LETTER_MAX_ITEMS + 1, 0));
    const groups = (await admin.list({})).entries.filter((e) => e.part?.group.startsWith('dl-') === true);
    expect(groups.map((e) => e.part?.of)).toEqual([2, 2]);
    expect(new Set(groups.map((e) => e.part?.group)).size).toBe(1);
    expect(groups.map((e) => e.id).sort()).toEqual([1, 2].map((n) => `${groups[0]?.part?.group ?? ''}-part-${n}`));

    // Replaying only the kiosk part puts back its 200 visitors and leaves the others.
    const pending = await running.pipeline.store.pendingVisitors();
    expect(await admin.replay({ source: 'kiosk' })).toMatchObject({
      matched: 1,
      done: 1,
      ids: ['bulk-claim-42-part-3'],
    });
    expect((await running.pipeline.store.pendingVisitors()) - pending).toBe(200);
    expect(await q.getJob('bulk-claim-42-part-3')).toBeUndefined();
    expect(await q.getWaitingCount()).toBe(4);
    await q.drain();
  });
});
