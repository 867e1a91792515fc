import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KIOSK_KEY, POS_KEY, kioskVisit, startIntakeServer, type IntakeServer } from '../../harness/intake-server.js';
import { ingestEvents } from '../../../src/jobs/ingest-rows.js';

/** Every event stored in the ingest queue, with the source each job records. */
async function storedEvents(server: IntakeServer): Promise<Array<{ source: string; id: string }>> {
  const jobs = await server.running.pipeline.queues.ingest.getJobs(['wait']);
  return jobs.flatMap((job) =>
    ingestEvents(job.data).map((e) => ({ source: job.data.source, id: (e as { id: string }).id })),
  );
}

describe('POST /v1/events answers (real server, real Redis)', () => {
  let server: IntakeServer;

  beforeAll(async () => {
    server = await startIntakeServer({ env: { INTAKE_MAX_EVENTS: '20', INTAKE_BODY_LIMIT_BYTES: String(64 * 1024) } });
  });
  afterAll(async () => {
    await server.close();
  });

  it('202: one object, stored in Redis under the source of the key before the answer', async () => {
    const answer = await server.post(kioskVisit('obj-1'));
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    expect(await storedEvents(server)).toContainEqual({ source: 'pos-eu', id: 'obj-1' });
  });

  it('202: an array answers per event: accepted, duplicate (within the batch and resent), rejected by index', async () => {
    const answer = await server.post([
      kioskVisit('arr-1'),
      kioskVisit('arr-1'),
      { ...kioskVisit('arr-2'), data: {} },
      kioskVisit('obj-1'),
      kioskVisit('arr-3'),
    ]);
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({
      accepted: 2,
      duplicates: 2,
      rejected: [{ index: 2, errors: ['data.kioskId: required for kiosk_visit'] }],
    });
  });

  it('202: a key stored as a SHA-256 digest names its own source', async () => {
    const answer = await server.post(kioskVisit('hashed-1'), { key: KIOSK_KEY });
    expect(answer.status).toBe(202);
    expect(await storedEvents(server)).toContainEqual({ source: 'kiosk', id: 'hashed-1' });
  });

  it('202: NDJSON takes every good line and rejects a bad line alone, by its 0-based line index', async () => {
    const lines = [
      JSON.stringify(kioskVisit('nd-1')),
      '',
      '{"id":"nd-2","type":',
      JSON.stringify(kioskVisit('nd-3')) + '\r',
      JSON.stringify({ ...kioskVisit('nd-4'), type: 'nope' }),
    ];
    const answer = await server.post(lines.join('\n') + '\n', { contentType: 'application/x-ndjson' });
    expect(answer.status).toBe(202);
    expect(answer.body.accepted).toBe(2);
    expect(answer.body.rejected).toEqual([
      { index: 2, errors: ['body: line 3 is not valid JSON: unexpected end of input at column 21'] },
      { index: 4, errors: [expect.stringMatching(/^type: unknown event type "nope"; known types: /)] },
    ]);
  });

  it('400: nothing valid, with every reason', async () => {
    const answer = await server.post([{ ...kioskVisit('bad-1'), occurredAt: 'yesterday' }, { id: 'bad-2' }]);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('NO_VALID_EVENTS');
    expect(answer.body.accepted).toBe(0);
    expect(answer.body.rejected.map((r) => r.index)).toEqual([0, 1]);
    expect(answer.body.rejected[0]?.errors).toEqual([
      'occurredAt: expected an ISO-8601 timestamp with a timezone, got "yesterday"',
    ]);
  });

  it('400: malformed JSON says where, without quoting the body', async () => {
    const answer = await server.post('[{"id": "x",\n  "data": {"cardId": 6011000990139424,}}]');
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({
      error: 'INVALID_JSON',
      accepted: 0,
      message: 'request body is not valid JSON: expected a property name in double quotes at line 2, column 39',
    });
    expect(answer.text).not.toContain('6011000990139424');
  });

  it('400: invalid UTF-8 is refused with the offset of the first bad byte, never decoded with replacement characters', async () => {
    const body = Buffer.concat([Buffer.from('{"id":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const answer = await server.post(body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({
      error: 'INVALID_UTF8',
      message: expect.stringContaining('first bad byte at offset 10') as unknown,
    });
  });

  it('400: an empty body or an empty array', async () => {
    expect((await server.post('')).body.error).toBe('EMPTY_BODY');
    expect((await server.post('[]')).status).toBe(400);
  });

  it('401: without a key, with an unknown key or another scheme; the key is never echoed', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer not-a-known-key-000' },
      { authorization: `Basic ${POS_KEY}` },
    ];
    for (const headers of attempts) {
      const answer = await server.post(kioskVisit('auth-1'), { key: null, headers });
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('Bearer realm="target-ingest"');
      expect(answer.body.error).toBe('UNAUTHORIZED');
      expect(answer.text).not.toMatch(/not-a-known-key|pos-eu-key/);
    }
    expect(await storedEvents(server)).not.toContainEqual(expect.objectContaining({ id: 'auth-1' }));
  });

  it('413: a body over INTAKE_BODY_LIMIT_BYTES', async () => {
    const events = Array.from({ length: 20 }, (_, i) => ({
      ...kioskVisit(`big-${i}`),
      data: { kioskId: 'K', location: 'x'.repeat(4000) },
    }));
    const answer = await server.post(events);
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({
      error: 'BODY_TOO_LARGE',
      accepted: 0,
      message: expect.stringContaining('65536 bytes') as unknown,
    });
  });

  it('413: more events than INTAKE_MAX_EVENTS, as an array or as NDJSON lines; none is taken', async () => {
    const events = Array.from({ length: 21 }, (_, i) => kioskVisit(`many-${i}`));
    const array = await server.post(events);
    expect(array.status).toBe(413);
    expect(array.body).toMatchObject({
      error: 'TOO_MANY_EVENTS',
      message: 'request holds 21 events; at most 20 per request (INTAKE_MAX_EVENTS): split it',
    });
    const ndjson = await server.post(events.map((e) => JSON.stringify(e)).join('\n'), {
      contentType: 'application/x-ndjson',
    });
    expect(ndjson.status).toBe(413);
    expect(await storedEvents(server)).not.toContainEqual(expect.objectContaining({ id: 'many-0' }));
  });

  it('415: other content types, a missing one, or a charset other than UTF-8', async () => {
    const cases: Array<[string | null, string]> = [
      ['text/plain', '"text/plain" is not accepted; send application/json or application/x-ndjson'],
      [null, 'Content-Type is missing; send application/json or application/x-ndjson'],
      ['application/json; charset=iso-8859-1', 'only UTF-8 bodies are accepted (charset=utf-8)'],
    ];
    for (const [contentType, message] of cases) {
      const answer = await server.post(kioskVisit('ct-1'), { contentType });
      expect(answer.status).toBe(415);
      expect(answer.body).toMatchObject({ error: 'UNSUPPORTED_MEDIA_TYPE', message });
    }
    expect((await server.post(kioskVisit('ct-2'), { contentType: 'application/json; charset=UTF-8' })).status).toBe(
      202,
    );
  });
});

describe('POST /v1/events without INGEST_API_KEYS (development)', () => {
  it('takes every request as source "dev"', async () => {
    const server = await startIntakeServer({ env: { INGEST_API_KEYS: '' } });
    try {
      const answer = await server.post(kioskVisit('dev-1'), { key: null });
      expect(answer.status).toBe(202);
      const jobs = await server.running.pipeline.queues.ingest.getJobs(['wait']);
      expect(jobs.map((j) => j.data.source)).toEqual(['dev']);
    } finally {
      await server.close();
    }
  });
});
