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

describe('map worker: events stored as rows (intake since 2026-12-07)', () => {
  const asRow = (e: Record<string, unknown>) => [e.id, e.type, e.occurredAt, e.visitor, e.data];

  it('maps a job of rows exactly as the same events stored as objects, an event without data (4-entry row) included', async () => {
    const noData = { ...kioskVisit('e2') };
    delete noData.data;
    const events = [kioskVisit('e1'), noData, { ...kioskVisit('e3'), type: 'not_mapped' }];
    const asObjects = mapWorker();
    const asRows = mapWorker();
    const base = { source: 'pos', receivedAt: RECEIVED, checkedEnvelope: ENVELOPE_RULES };
    const fromObjects = await asObjects.run({ ...base, events });
    const fromRows = await asRows.run({
      ...base,
      rows: events.map((e) => (e.data === undefined ? asRow(e).slice(0, 4) : asRow(e))),
    });
    expect(fromRows).toEqual(fromObjects);
    expect(asRows.merged).toEqual(asObjects.merged);
    expect(asRows.merged.map((e) => e.id)).toEqual(['e1']);
    // Dead letters hold the events as the producer sent them, not their rows (a kiosk visit
    // needs data.kioskId; e3's type is not mapped).
    expect(asRows.letters.map((l) => [l.events, l.error.message])).toEqual(
      asObjects.letters.map((l) => [l.events, l.error.message]),
    );
    expect(asRows.letters.map((l) => l.events)).toEqual([[events[1]], [events[2]]]);
  });

  it('dead-letters a malformed row alone, naming the problem, and merges the rest', async () => {
    const worker = mapWorker();
    const summary = await worker.run({
      source: 'pos',
      receivedAt: RECEIVED,
      rows: [
        asRow(kioskVisit('e1')),
        ['e2', 'kiosk_visit'],
        'not a row',
        // A row of a newer release with a sixth field: refused, not merged without it.
        [...asRow(kioskVisit('e4')), 'more'],
        asRow(kioskVisit('e5')),
      ],
      checkedEnvelope: ENVELOPE_RULES,
    });
    expect(worker.merged.map((e) => e.id)).toEqual(['e1', 'e5']);
    expect(summary).toMatchObject({ applied: 2, invalid: 3 });
    for (const letter of worker.letters) expect(letter.error.message).toMatch(/id: .*row/s);
    // Each letter keeps its row as it was stored.
    expect(worker.letters.map((l) => l.events)).toEqual([
      [{ row: ['e2', 'kiosk_visit'] }],
      [{ row: 'not a row' }],
      [{ row: [...asRow(kioskVisit('e4')), 'more'] }],
    ]);
  });

  it('refuses a job that holds neither events nor rows, naming the field', async () => {
    const worker = mapWorker();
    await expect(worker.run({ source: 'pos', receivedAt: RECEIVED })).rejects.toThrow(
      /events: an ingest job needs its events/,
    );
  });
});
