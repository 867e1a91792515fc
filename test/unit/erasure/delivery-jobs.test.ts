import { describe, expect, it } from 'vitest';
import { deliveryJobWithout } from '../../../src/erasure/delivery-jobs.js';
import type { BulkBatch, BulkStatusJob } from '../../../src/jobs/catalog.js';

const GONE = new Set(['3p:GONE']);

function batch(visitors: string[]): BulkBatch {
  return { statusUrl: 'http://status/1', visitors, submittedAt: 1, polls: 0, resubmits: 0 };
}

describe('a failed delivery job without a forgotten visitor', () => {
  it('leaves its key out of every list a bulk-status job keeps, and keeps the rest as it was', () => {
    const job: BulkStatusJob = {
      claimId: 'c',
      batches: [batch(['3p:GONE', '3p:K']), batch(['3p:L'])],
      answerLost: ['3p:GONE'],
      answerLostAt: 5,
    };
    expect(deliveryJobWithout(job, GONE)).toEqual({
      claimId: 'c',
      batches: [batch(['3p:K']), batch(['3p:L'])],
      answerLost: [],
      answerLostAt: 5,
    });
  });

  it('goes when it named no one else, and is left alone when it never named it', () => {
    expect(
      deliveryJobWithout({ claimId: 'c', visitors: ['3p:GONE'], submitted: [batch(['3p:GONE'])] }, GONE),
    ).toBeNull();
    const other = { claimId: 'c', visitors: ['3p:K'] };
    expect(deliveryJobWithout(other, GONE)).toBeUndefined();
  });
});
