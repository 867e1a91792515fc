import { describe, expect, it } from 'vitest';
import {
  PipelineError,
  bulkSubmitMayLand,
  classifyError,
  classifyStatus,
  mayLandLater,
  parseRetryAfter,
  TargetRejectedError,
  TargetUnavailableError,
} from '../../src/errors.js';

describe('classification', () => {
  it('treats bad-request answers as permanent and throttling or outage as transient', () => {
    for (const status of [400, 401, 403, 404, 413, 414]) expect(classifyStatus(status)).toBe('permanent');
    for (const status of [408, 429, 500, 502, 503, 504]) expect(classifyStatus(status)).toBe('transient');
  });

  it('classifies undici failures by their code, not their message', () => {
    const timeout = Object.assign(new Error('whatever the text says'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
    const classified = classifyError(timeout);
    expect(classified.kind).toBe('transient');
    expect(classified.code).toBe('UND_ERR_CONNECT_TIMEOUT');
    const refused = classifyError(Object.assign(new Error('400 bad request'), { code: 'ECONNREFUSED' }));
    expect(refused.kind).toBe('transient');
  });

  it('classifies the request deadline (AbortSignal.timeout) as a transient timeout by its name', async () => {
    const signal = AbortSignal.timeout(1);
    await new Promise((r) => setTimeout(r, 20));
    const classified = classifyError(signal.reason);
    expect(classified).toMatchObject({ kind: 'transient', code: 'TARGET_TIMEOUT', name: 'TargetUnavailableError' });
    const controller = new AbortController();
    controller.abort();
    expect(classifyError(controller.signal.reason)).toMatchObject({ kind: 'transient', code: 'TARGET_ABORTED' });
  });

  it('keeps an already classified error as it is', () => {
    const error = new PipelineError('x', 'TARGET_HTTP_400', 'permanent');
    expect(classifyError(error)).toBe(error);
  });

  it('reads Retry-After in seconds or as an HTTP date', () => {
    expect(parseRetryAfter('7', 0)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:10 GMT', 4000)).toBe(6000);
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });
});

describe('mayLandLater: a failed call Target may still apply (P4)', () => {
  it('yes when the answer was lost or was a 5xx; no when Target refused it or it never left', () => {
    const transient = (code: string, status?: number) =>
      new PipelineError('x', code, 'transient', status === undefined ? {} : { status });
    for (const code of [
      'TARGET_TIMEOUT',
      'TARGET_ABORTED',
      'ECONNRESET',
      'UND_ERR_SOCKET',
      'UND_ERR_HEADERS_TIMEOUT',
      'UNKNOWN',
    ])
      expect(mayLandLater(transient(code)), code).toBe(true);
    for (const status of [500, 502, 503, 504])
      expect(mayLandLater(transient(`TARGET_HTTP_${status}`, status))).toBe(true);
    // Refusals, and failures before the request left.
    expect(mayLandLater(transient('TARGET_HTTP_429', 429))).toBe(false);
    for (const code of ['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND'])
      expect(mayLandLater(transient(code)), code).toBe(false);
    expect(mayLandLater(new PipelineError('x', 'TARGET_HTTP_400', 'permanent', { status: 400 }))).toBe(false);
    // The request deadline as undici reports it.
    expect(mayLandLater(classifyError(Object.assign(new Error('t'), { name: 'TimeoutError' })))).toBe(true);
  });
});

describe('bulkSubmitMayLand: a failed bulk submit Target may still process (P4)', () => {
  it('as mayLandLater, except the 503 Adobe documents as the shared limit refusing the call', () => {
    const failed = (code: string, status?: number) =>
      new PipelineError('x', code, 'transient', status === undefined ? {} : { status });
    expect(bulkSubmitMayLand(failed('UND_ERR_HEADERS_TIMEOUT'))).toBe(true);
    expect(bulkSubmitMayLand(failed('ECONNRESET'))).toBe(true);
    for (const status of [500, 502, 504]) expect(bulkSubmitMayLand(failed(`TARGET_HTTP_${status}`, status))).toBe(true);
    expect(bulkSubmitMayLand(failed('TARGET_HTTP_503', 503))).toBe(false);
    expect(bulkSubmitMayLand(failed('ECONNREFUSED'))).toBe(false);
    expect(bulkSubmitMayLand(new PipelineError('x', 'TARGET_HTTP_401', 'transient', { status: 401 }))).toBe(false);
    // Taken, but the answer named no status link: the batch is at Target.
    expect(bulkSubmitMayLand(classifyError(new TargetUnavailableError('no link', 'TARGET_NO_BATCH_STATUS')))).toBe(
      true,
    );
    // Answered `success=false`: Target read the file and refused it.
    expect(bulkSubmitMayLand(classifyError(new TargetRejectedError('refused', 200, '<response/>')))).toBe(false);
  });
});
