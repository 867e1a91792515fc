import { describe, expect, it } from 'vitest';
import {
  COMPLETED_FLUSH_MAX_COUNT,
  COMPLETED_INGEST_MAX_COUNT,
  COMPLETED_INGEST_RETENTION_S,
  COMPLETED_JOB_MAX_COUNT,
  COMPLETED_JOB_RETENTION_S,
  JOB_OPTIONS,
  QUEUE_DESCRIPTIONS,
  QUEUE_NAMES,
} from '../../../src/jobs/catalog.js';
import { bulkStatusJobName, deadLetterJobName, deliverJobName, ingestJobName } from '../../../src/jobs/names.js';
import { queueDescription } from '../../../src/ops/dashboard.js';

describe('job names say what a job carries (labels for the dashboard)', () => {
  it('ingest: count and source', () => {
    expect(ingestJobName(500, 'pos-eu')).toBe('events ×500 from pos-eu');
    expect(ingestJobName(1, 'sdk')).toBe('events ×1 from sdk');
    expect(ingestJobName(1000, 'x'.repeat(200))).toBe(`events ×1,000 from ${'x'.repeat(63)}…`);
  });

  it('deliveries: mode and visitors, thousands separated', () => {
    expect(deliverJobName('single', 200)).toBe('single ×200 visitors');
    expect(deliverJobName('bulk', 48_112)).toBe('bulk ×48,112 visitors');
    expect(deliverJobName('single', 1)).toBe('single ×1 visitor');
  });

  it('bulk status: the batches polled', () => {
    expect(bulkStatusJobName(3)).toBe('status of 3 batches');
    expect(bulkStatusJobName(1)).toBe('status of 1 batch');
  });

  it('dead letters: stage, code and visitors or events held', () => {
    const error = { class: 'PipelineError', code: 'TARGET_HTTP_400', message: 'bad' };
    const vk = (i: number) => ({ vk: `3p:${i}`, attributes: {} });
    expect(deadLetterJobName({ stage: 'deliver-bulk', error, visitors: [vk(1), vk(2)] })).toBe(
      'deliver-bulk TARGET_HTTP_400 ×2',
    );
    expect(deadLetterJobName({ stage: 'map', error: { ...error, code: 'EVENT_INVALID' }, events: [{}] })).toBe(
      'map EVENT_INVALID ×1',
    );
  });
});

describe('completed jobs are kept for a bounded time and count', () => {
  it('ingest jobs (raw events) fewer and more briefly than the others', () => {
    expect(JOB_OPTIONS.ingest.removeOnComplete).toEqual({ age: 600, count: 100 });
    expect([COMPLETED_INGEST_RETENTION_S, COMPLETED_INGEST_MAX_COUNT]).toEqual([600, 100]);
    expect([COMPLETED_JOB_RETENTION_S, COMPLETED_JOB_MAX_COUNT, COMPLETED_FLUSH_MAX_COUNT]).toEqual([3600, 1000, 100]);
    for (const kind of ['deliver', 'bulkStatus'] as const)
      expect(JOB_OPTIONS[kind].removeOnComplete, kind).toEqual({ age: 3600, count: 1000 });
    expect(JOB_OPTIONS.flush.removeOnComplete).toEqual({ age: 3600, count: 100 });
    expect(JOB_OPTIONS.deadLetter.removeOnComplete).toBe(false);
  });

  it('every queue has a description; the dead-letter queue says it has no workers by design', () => {
    for (const key of Object.keys(QUEUE_NAMES) as Array<keyof typeof QUEUE_NAMES>)
      expect(QUEUE_DESCRIPTIONS[key].length, key).toBeGreaterThan(40);
    expect(QUEUE_DESCRIPTIONS.deadLetter).toMatch(/no workers by design/);
  });

  it('the board adds how long completed jobs stay, as the queue adds them', () => {
    expect(queueDescription('ingest', JOB_OPTIONS.ingest)).toBe(
      `${QUEUE_DESCRIPTIONS.ingest} Completed jobs stay for 10 minutes (at most 100).`,
    );
    expect(queueDescription('deliverBulk', JOB_OPTIONS.deliver)).toMatch(
      / Completed jobs stay for 1 hour \(at most 1,000\)\.$/,
    );
    expect(queueDescription('ingest', { removeOnComplete: true })).toMatch(
      / Completed jobs are removed as they complete\.$/,
    );
    expect(queueDescription('deliverSingle', { removeOnComplete: { age: 90 } })).toMatch(/ stay for 90 seconds\.$/);
    expect(queueDescription('deadLetter', JOB_OPTIONS.deadLetter)).toBe(QUEUE_DESCRIPTIONS.deadLetter);
  });
});
