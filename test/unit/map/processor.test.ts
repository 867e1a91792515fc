import type { Job } from 'bullmq';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { VisitorStore } from '../../../src/coalesce/store.js';
import { ENVELOPE_RULES, resolveMapping, type ValidEvent } from '../../../src/events/index.js';
import type { DeadLetter, IngestJob } from '../../../src/jobs/catalog.js';
import { createMapProcessor, type MapDeps } from '../../../src/map/processor.js';

const RECEIVED = Date.parse('2026-11-21T12:00:00.000Z');

function kioskVisit(id: string): Record<string, unknown> {
  return {
    id,
    type: 'kiosk_visit',
    occurredAt: '2026-11-21T10:00:00Z',
    visitor: { mbox3rdPartyId: 'CRM-1' },
    data: { kioskId: 'K-1' },
  };
}

/** The map processor over a store and dead-letter writer that only record what they are given. */
function mapWorker() {
  const merged: ValidEvent[] = [];
  const letters: DeadLetter[] = [];
  const deps = {
    mapping: resolveMapping(),
    maxValueLength: 256,
    logger: pino({ level: 'silent' }),
    store: {
      merge: (_source: string, events: ValidEvent[]) => {
        merged.push(...events);
        return Promise.resolve(events.map(() => 'applied' as const));
      },
    } as unknown as VisitorStore,
    deadLetters: {
      add: (entry: DeadLetter) => {
        letters.push(entry);
        return Promise.resolve();
      },
    },
  } as unknown as MapDeps;
  const process = createMapProcessor(deps);
  const run = (data: IngestJob) =>
    process({ id: '1', queueName: 'ingest', timestamp: RECEIVED, attemptsMade: 0, data } as Job<IngestJob>);
  return { run, merged, letters };
}

describe('map worker: one validation per event', () => {
  // An id with a zero-width space: the envelope refuses it, the mapping alone would not notice.
  const invisible = kioskVisit('e\u200b2');

  it('maps the events of a job intake checked under its own envelope rules without checking the envelope again', async () => {
    const worker = mapWorker();
    const summary = await worker.run({
      source: 'pos',
      receivedAt: RECEIVED,
      events: [kioskVisit('e1'), invisible, { ...kioskVisit('e3'), type: 'not_mapped' }],
      checkedEnvelope: ENVELOPE_RULES,
    });
    // Trusted: the envelope of e\u200b2 is not looked at again (intake would have refused it).
    expect(worker.merged.map((e) => e.id)).toEqual(['e1', 'e\u200b2']);
    // The mapping's own checks still run: the map's mapping may differ from the producer's.
    expect(summary).toMatchObject({ applied: 2, invalid: 1 });
    expect(worker.letters[0]?.error.message).toMatch(/unknown event type "not_mapped"/);
  });

  it('validates every event of a job that was not checked, or was checked under other rules (replays, other releases)', async () => {
    for (const checkedEnvelope of [undefined, ENVELOPE_RULES + 1]) {
      const worker = mapWorker();
      const summary = await worker.run({
        source: 'pos',
        receivedAt: RECEIVED,
        events: [kioskVisit('e1'), invisible],
        ...(checkedEnvelope === undefined ? {} : { checkedEnvelope }),
      });
      expect(worker.merged.map((e) => e.id)).toEqual(['e1']);
      expect(summary).toMatchObject({ applied: 1, invalid: 1 });
      expect(worker.letters[0]?.error.message).toMatch(/id: must contain only printable characters/);
    }
  });

  it('dead-letters an event from before 1970 alone, also in a job an older release checked, and merges the rest', async () => {
    // The store orders events by stamps of non-negative epoch ms: such an event, merged with
    // the others, failed the merge of its whole job.
    const worker = mapWorker();
    const summary = await worker.run({
      source: 'pos',
      receivedAt: RECEIVED,
      events: [kioskVisit('e1'), { ...kioskVisit('e2'), occurredAt: '1900-01-01T00:00:00Z' }, kioskVisit('e3')],
      checkedEnvelope: ENVELOPE_RULES,
    });
    expect(worker.merged.map((e) => e.id)).toEqual(['e1', 'e3']);
    expect(summary).toMatchObject({ applied: 2, invalid: 1 });
    expect(worker.letters[0]?.error.message).toMatch(/occurredAt: 1900-01-01T00:00:00.000Z is before 1970/);
  });
});
