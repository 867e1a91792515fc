import { describe, expect, it } from 'vitest';
import { PipelineError, TargetUnavailableError } from '../../../src/errors.js';
import { retryCause } from '../../../src/deliver/deliver-single.js';

describe('retryCause (the failure a single-delivery retry is scheduled by)', () => {
  it('takes the longest Retry-After of the failed calls, whichever came first', () => {
    const outage = new TargetUnavailableError('503', 'TARGET_HTTP_503', { status: 503 });
    const throttled = new TargetUnavailableError('429', 'TARGET_HTTP_429', { status: 429, retryAfterMs: 30_000 });
    const shorter = new TargetUnavailableError('429', 'TARGET_HTTP_429', { status: 429, retryAfterMs: 2_000 });
    expect(retryCause([outage, shorter, throttled])).toBe(throttled);
  });

  it('keeps the first failure when none says how long to wait', () => {
    const first = new PipelineError('reset', 'ECONNRESET', 'transient');
    const second = new PipelineError('timeout', 'TARGET_TIMEOUT', 'transient');
    expect(retryCause([first, second])).toBe(first);
  });
});
