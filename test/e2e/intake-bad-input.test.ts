import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kioskVisit, startIntakeServer, type IntakeServer } from '../harness/intake-server.js';
import { waitFor } from '../harness/pipeline.js';

/** A valid loyalty event for its own visitor `V-<id>`; the profile it should produce is checked at the end. */
function good(id: string): Record<string, unknown> {
  return {
    id,
    type: 'loyalty_card_used',
    occurredAt: '2026-11-21T10:15:00Z',
    visitor: { mbox3rdPartyId: `V-${id}` },
    data: { storeId: `S-${id}`, points: 7, cardId: '6011000990139424' },
  };
}

/** `[[[…"x"…]]]` as JSON text: too deep for JSON.stringify, not for intake. */
function nestedJson(depth: number): string {
  return `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
}

const long = 'x'.repeat(10_000);

// Each bad event with the first reason intake gives for it; sent in one array with good events.
const CORPUS: Array<{ name: string; event: Record<string, unknown>; reason: RegExp }> = [
  {
    name: 'wrong type',
    event: { ...good('bad-type'), data: { storeId: 'S1', points: '12,50' } },
    reason: /^data\.points: expected a number, got "12,50"$/,
  },
  {
    name: 'missing fields',
    event: { id: 'bad-missing', type: 'kiosk_visit', visitor: { mbox3rdPartyId: 'V-bad-missing' } },
    reason: /^occurredAt: required/,
  },
  {
    name: 'unknown event type',
    event: { ...good('bad-unknown'), type: 'till_opened' },
    reason: /^type: unknown event type "till_opened"; known types: call_centre_contact, /,
  },
  {
    name: 'ECID-only visitor',
    event: { ...good('bad-ecid'), visitor: { ecid: '12345678901234567890' } },
    reason: /^visitor: ECID is not supported by the Target profile update APIs/,
  },
  {
    name: '"+" in mbox3rdPartyId',
    event: { ...good('bad-plus'), visitor: { mbox3rdPartyId: 'CRM+1' } },
    reason: /^visitor\.mbox3rdPartyId: must not contain "\+" or "\/"/,
  },
  {
    name: '"/" in mbox3rdPartyId',
    event: { ...good('bad-slash'), visitor: { mbox3rdPartyId: 'CRM/1' } },
    reason: /^visitor\.mbox3rdPartyId: must not contain "\+" or "\/"/,
  },
  {
    name: '10,000-character id',
    event: { ...good('bad-long-id'), id: long },
    reason: /^id: must be at most 128 characters, got 10000$/,
  },
  {
    name: '10,000-character value',
    event: { ...good('bad-long-value'), data: { storeId: long } },
    reason: /^data\.storeId: is 10000 characters long; Target accepts at most 256/,
  },
  {
    name: '10,000-character visitor id',
    event: { ...good('bad-long-visitor'), visitor: { mbox3rdPartyId: long } },
    reason: /^visitor\.mbox3rdPartyId: must be at most 256 characters, got 10000$/,
  },
  {
    name: 'deeply nested data',
    event: { ...good('bad-nested'), data: { storeId: '<nested>' } },
    reason: /^data\.storeId: expected a string, number, boolean or null, got an array$/,
  },
];

/** The corpus as a JSON array, with good events around it; the nested value spliced in as text. */
function corpusBody(events: ReadonlyArray<Record<string, unknown>>): string {
  return `[${events.map((e) => JSON.stringify(e).replace('"<nested>"', nestedJson(10_000))).join(',')}]`;
}

describe('bad-input corpus over HTTP → whole pipeline → simulator', () => {
  let server: IntakeServer;
  const delivered: string[] = [];

  beforeAll(async () => {
    server = await startIntakeServer({ roles: ['map', 'flusher', 'deliver'] });
  });
  afterAll(async () => {
    await server.close();
  });

  it('rejects each bad event alone with its reason, takes the good ones and a duplicate id in the batch once', async () => {
    const events = [good('ok-1'), ...CORPUS.map((c) => c.event), good('ok-2'), good('ok-1')];
    const answer = await server.post(corpusBody(events));
    expect(answer.status).toBe(202);
    expect([answer.body.accepted, answer.body.duplicates]).toEqual([2, 1]);
    expect(answer.body.rejected.map((r) => r.index)).toEqual(CORPUS.map((_, i) => i + 1));
    CORPUS.forEach((c, i) => expect(answer.body.rejected[i]?.errors[0], c.name).toMatch(c.reason));
    expect(answer.text).not.toContain('6011000990139424');
    delivered.push('ok-1', 'ok-2');
  });

  it('answers whole-request problems without losing the good requests around them', async () => {
    const malformed = await server.post('[{"id": "a"},, {"id": "b"}]');
    expect(malformed.body).toMatchObject({
      error: 'INVALID_JSON',
      message:
        'request body is not valid JSON: expected a value (an object, array, string in double quotes, number, true, false or null) at line 1, column 14',
    });
    expect((await server.post(JSON.stringify(good('ct')), { contentType: 'text/csv' })).status).toBe(415);
    const latin1 = Buffer.from(JSON.stringify(good('latin1')).replace('S-latin1', 'S-caf\u00e9'), 'latin1');
    expect((await server.post(latin1)).body.error).toBe('INVALID_UTF8');
    expect((await server.post(nestedJson(1_000_000))).body).toMatchObject({
      error: 'NO_VALID_EVENTS',
      rejected: [{ index: 0, errors: ['event: expected a JSON object, got an array'] }],
    });
    const huge = await server.post([
      good('huge'),
      { ...good('huge-2'), data: { storeId: 'x'.repeat(6 * 1024 * 1024) } },
    ]);
    expect([huge.status, huge.body.error]).toEqual([413, 'BODY_TOO_LARGE']);

    // NDJSON: a malformed line and an invalid UTF-8 line are rejected alone; the rest is taken.
    const ndjson = Buffer.concat([
      Buffer.from(`${JSON.stringify(good('nd-1'))}\n{"id": "nd-broken",\n`),
      Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d, 0x0a]),
      Buffer.from(`${JSON.stringify(good('nd-2'))}\n${JSON.stringify(kioskVisit('nd-3', 'V-nd-3'))}\n`),
    ]);
    const lines = await server.post(ndjson, { contentType: 'application/x-ndjson' });
    expect(lines.status).toBe(202);
    expect(lines.body).toEqual({
      accepted: 3,
      duplicates: 0,
      rejected: [
        { index: 1, errors: ['body: line 2 is not valid JSON: unexpected end of input at column 20'] },
        { index: 2, errors: ['body: line 3 is not valid UTF-8 (first bad byte at offset 2 of the line)'] },
      ],
    });
    delivered.push('nd-1', 'nd-2');
  });

  it('delivers every good event to Target, and nothing of the bad ones', async () => {
    const store = server.running.simulator.store;
    expect(
      await waitFor(() => [...delivered, 'nd-3'].every((id) => store.get('thirdPartyId', `V-${id}`) !== undefined)),
    ).toBe(true);
    for (const id of delivered) {
      expect(store.get('thirdPartyId', `V-${id}`)).toEqual({
        loyaltyLastUsedAt: '2026-11-21T10:15:00.000Z',
        loyaltyLastStoreId: `S-${id}`,
        loyaltyLastPoints: '7',
      });
    }
    expect(store.get('thirdPartyId', 'V-nd-3')).toMatchObject({ kioskLastId: 'K1' });
    for (const c of CORPUS) expect(store.get('thirdPartyId', `V-${String(c.event.id)}`), c.name).toBeUndefined();
    for (const id of ['huge', 'latin1', 'ct']) expect(store.get('thirdPartyId', `V-${id}`)).toBeUndefined();
    expect(await server.running.pipeline.store.stats()).toMatchObject({ events_applied: 5 });
    expect(await server.running.pipeline.queues.deadLetter.count()).toBe(0);
  });
});
