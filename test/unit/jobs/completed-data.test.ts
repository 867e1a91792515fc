import { describe, expect, it } from 'vitest';
import { clearedJobData } from '../../../src/jobs/completed-data.js';

const batch = (statusUrl: string, visitors: string[]) => ({
  statusUrl,
  visitors,
  submittedAt: 1,
  polls: 2,
  resubmits: 0,
});

describe('what a completed job keeps of its data', () => {
  it('ingest: source and intake time, the events replaced by their count', () => {
    const data = { source: 'pos-eu', receivedAt: 1700, events: [{ id: 'e1' }, { id: 'e2' }, { id: 'e3' }] };
    expect(clearedJobData('ingest', data)).toEqual({
      source: 'pos-eu',
      receivedAt: 1700,
      events: [],
      cleared: { events: 3 },
    });
    // The job as it ran is not changed (other listeners of `completed` read it).
    expect(data.events).toHaveLength(3);
  });

  it('ingest in rows (as intake stores events): the rows replaced by their count', () => {
    const data = { source: 'pos-eu', receivedAt: 1700, rows: [['e1'], ['e2']], checkedEnvelope: 1 };
    expect(clearedJobData('ingest', data)).toEqual({
      source: 'pos-eu',
      receivedAt: 1700,
      rows: [],
      checkedEnvelope: 1,
      cleared: { events: 2 },
    });
  });

  it('deliveries: the claim, its visitor keys (and batches an earlier run posted, visitors whose answer was lost) replaced by their count', () => {
    const data = {
      claimId: 'c-1',
      visitors: ['3p:A', '3p:B'],
      submitted: [batch('https://t/s?batchId=1', ['3p:A'])],
      answerLost: ['3p:B'],
      answerLostAt: 1_000,
    };
    for (const key of ['deliverSingle', 'deliverBulk'] as const)
      expect(clearedJobData(key, data)).toEqual({ claimId: 'c-1', visitors: [], cleared: { visitors: 2 } });
  });

  it("bulk status: Target's batch links kept, every batch's visitors counted and cleared, the interim totals and visitors to read back left out", () => {
    const data = {
      claimId: 'c-2',
      batches: [batch('https://t/s?batchId=1', ['3p:A', '3p:B']), batch('https://t/s?batchId=2', ['pc:C'])],
      totals: { polls: 4 },
      answerLost: ['3p:A'],
      answerLostAt: 1_000,
    };
    expect(clearedJobData('bulkStatus', data)).toEqual({
      claimId: 'c-2',
      batches: [batch('https://t/s?batchId=1', []), batch('https://t/s?batchId=2', [])],
      cleared: { visitors: 3 },
    });
  });

  it('leaves alone what has nothing to clear: flush ticks, dead letters, cleared data, unknown shapes', () => {
    expect(clearedJobData('flush', {})).toBeUndefined();
    expect(clearedJobData('deadLetter', { stage: 'map', events: [1] })).toBeUndefined();
    expect(clearedJobData('ingest', { source: 's', events: [], cleared: { events: 5 } })).toBeUndefined();
    expect(clearedJobData('ingest', { source: 's' })).toBeUndefined();
    expect(clearedJobData('deliverBulk', null)).toBeUndefined();
    expect(clearedJobData('bulkStatus', ['not', 'an', 'object'])).toBeUndefined();
  });
});
