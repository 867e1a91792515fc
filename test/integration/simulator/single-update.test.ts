import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import { CLIENT, postForm, send, xmlField } from './helpers.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

let sim: Simulator;
const update = (query: string): string => `${sim.url}/m2/${CLIENT}/profile/update?${query}`;

beforeAll(async () => {
  sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT });
});
afterAll(async () => {
  await sim.close();
});
afterEach(() => {
  sim.store.clear();
  sim.stats.reset();
});

describe('single profile update', () => {
  it('accepts a GET and answers with the documented XML', async () => {
    const answer = await send(update('mboxPC=1368007744041-575948.01_00&profile.tier=gold&profile.points=120'));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^application\/xml/);
    expect(answer.text).toBe(
      '<response><success>true</success><pcId>1368007744041-575948.01_00</pcId><message>Request successfully submitted</message></response>',
    );
    expect(sim.store.get('pcId', '1368007744041-575948.01_00')).toEqual({ tier: 'gold', points: '120' });
    expect(sim.stats.single).toBe(1);
  });

  it('accepts a POST with the parameters in the query string and an empty body', async () => {
    const answer = await send(update('mboxPC=v1&profile.a=1'), { method: 'POST' });
    expect(answer.status).toBe(200);
    expect(sim.store.get('pcId', 'v1')).toEqual({ a: '1' });
  });

  it('accepts a POST with a form body and merges it with the query string', async () => {
    const answer = await postForm(update('mboxPC=v2'), 'profile.a=x&profile.b=y');
    expect(answer.status).toBe(200);
    expect(sim.store.get('pcId', 'v2')).toEqual({ a: 'x', b: 'y' });
  });

  it('decodes + as a space and %2B as a plus, in the query and in a form body', async () => {
    await send(update('mboxPC=v3&profile.a=a+b&profile.b=a%2Bb'));
    await postForm(update(''), 'mboxPC=v4&profile.a=c+d&profile.b=c%2Bd');
    expect(sim.store.get('pcId', 'v3')).toEqual({ a: 'a b', b: 'a+b' });
    expect(sim.store.get('pcId', 'v4')).toEqual({ a: 'c d', b: 'c+d' });
  });

  it('round-trips Unicode names and values, and escapes the id in the XML answer', async () => {
    const value = 'Zoë 東京 🚀 & <tags> = 100%';
    const id = 'id<&>"1';
    const answer = await send(
      update(`mboxPC=${encodeURIComponent(id)}&${encodeURIComponent('profile.größe')}=${encodeURIComponent(value)}`),
    );
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('<pcId>id&lt;&amp;&gt;&quot;1</pcId>');
    expect(xmlField(answer.text, 'pcId')).toBe(id);
    expect(sim.store.get('pcId', id)).toEqual({ größe: value });
  });

  it('keys mbox3rdPartyId profiles apart from mboxPC profiles', async () => {
    const answer = await send(update('mbox3rdPartyId=CRM-88412&profile.tier=gold'));
    expect(answer.status).toBe(200);
    expect(xmlField(answer.text, 'pcId')).toBe('CRM-88412');
    expect(sim.store.get('thirdPartyId', 'CRM-88412')).toEqual({ tier: 'gold' });
    expect(sim.store.get('pcId', 'CRM-88412')).toBeUndefined();
    expect([...sim.store.all().keys()]).toEqual(['3p:CRM-88412']);
  });

  it('never clears a value with an empty parameter', async () => {
    await send(update('mboxPC=v5&profile.a=1&profile.b=2'));
    await send(update('mboxPC=v5&profile.a=&profile.b=3'));
    expect(sim.store.get('pcId', 'v5')).toEqual({ a: '1', b: '3' });
  });

  it.each([
    ['no identity', 'profile.a=1', /missing identity/],
    ['both identities', 'mboxPC=a&mbox3rdPartyId=b&profile.a=1', /both mboxPC and mbox3rdPartyId/],
    ['an empty id', 'mboxPC=&profile.a=1', /pcId is empty/],
    ['a duplicated parameter', 'mboxPC=a&profile.a=1&profile.a=2', /"profile.a" is given more than once/],
    ['a malformed escape', 'mboxPC=a&profile.a=%zz', /value of parameter "profile.a" is malformed/],
    ['a thirdPartyId with +', 'mbox3rdPartyId=a%2Bb&profile.a=1', /may not contain/],
    ['a 257-character value', `mboxPC=a&profile.a=${'x'.repeat(257)}`, /257 characters, over the limit of 256/],
    ['a 129-character name', `mboxPC=a&profile.${'n'.repeat(129)}=1`, /longer than 128/],
  ])('rejects %s with 400 and a specific XML message', async (_label, query, message) => {
    const answer = await send(update(query));
    expect(answer.status).toBe(400);
    expect(xmlField(answer.text, 'success')).toBe('false');
    expect(xmlField(answer.text, 'message')).toMatch(message);
    expect(sim.store.size).toBe(0);
    expect(sim.stats.single).toBe(0);
  });

  it('accepts a value of exactly 256 characters, counting an emoji as one', async () => {
    const answer = await send(
      update(`mboxPC=v6&profile.a=${'x'.repeat(256)}&profile.b=${encodeURIComponent('🚀'.repeat(256))}`),
    );
    expect(answer.status).toBe(200);
    expect(sim.store.get('pcId', 'v6')?.b).toBe('🚀'.repeat(256));
  });

  it('accepts an attribute name of exactly 128 characters (129 is refused above)', async () => {
    const name = 'n'.repeat(128);
    const emojiName = '🚀'.repeat(128);
    const answer = await send(update(`mboxPC=v12&profile.${name}=1&${encodeURIComponent(`profile.${emojiName}`)}=2`));
    expect(answer.status).toBe(200);
    expect(sim.store.get('pcId', 'v12')).toEqual({ [name]: '1', [emojiName]: '2' });
  });

  it('accepts an mbox3rdPartyId of exactly 256 characters and refuses 257', async () => {
    for (const id of ['c'.repeat(256), '東'.repeat(256)]) {
      expect((await send(update(`mbox3rdPartyId=${encodeURIComponent(id)}&profile.a=1`))).status).toBe(200);
      expect(sim.store.get('thirdPartyId', id)).toEqual({ a: '1' });
    }
    const over = await send(update(`mbox3rdPartyId=${'c'.repeat(257)}&profile.a=1`));
    expect(over.status).toBe(400);
    expect(xmlField(over.text, 'message')).toMatch(/mbox3rdPartyId: thirdPartyId is longer than 256 characters/);
    expect(sim.store.get('thirdPartyId', 'c'.repeat(257))).toBeUndefined();
  });

  it('takes a profile to exactly 64 KB of data and refuses the update that would pass it', async () => {
    // Seeded: 'big' (3 bytes) + 65,522 bytes = 65,525; 'z' + 10 characters makes 65,536.
    const big = 'x'.repeat(65_536 - 3 - 11);
    sim.store.seed('pcId', 'full-1', { big });
    sim.store.seed('pcId', 'full-2', { big });
    expect((await send(update(`mboxPC=full-1&profile.z=${'z'.repeat(10)}`))).status).toBe(200);
    expect(sim.store.get('pcId', 'full-1')).toEqual({ big, z: 'z'.repeat(10) });
    const over = await send(update(`mboxPC=full-2&profile.z=${'z'.repeat(11)}`));
    expect(over.status).toBe(400);
    expect(xmlField(over.text, 'message')).toMatch(/exceed 64 KB/);
    expect(sim.store.get('pcId', 'full-2')).toEqual({ big });
    // Replacing a value counts the profile as it would be, not the sum of both values.
    expect((await send(update(`mboxPC=full-1&profile.z=${'w'.repeat(10)}`))).status).toBe(200);
  });

  it('answers 400 with an XML error for an unknown client code', async () => {
    const answer = await send(`${sim.url}/m2/someoneelse/profile/update?mboxPC=v7&profile.a=1`);
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toMatch(/^application\/xml/);
    expect(xmlField(answer.text, 'message')).toMatch(/Unknown client code "someoneelse"/);
    expect(sim.store.size).toBe(0);
  });

  it('rejects a GET over 8 KB with 414 and accepts one of exactly 8 KB', async () => {
    const base = `/m2/${CLIENT}/profile/update?mboxPC=v8&profile.a=1&pad=`;
    const exact = base + 'p'.repeat(8192 - base.length);
    expect(exact.length).toBe(8192);
    expect((await send(sim.url + exact)).status).toBe(200);
    const over = await send(`${sim.url}${exact}p`);
    expect(over.status).toBe(414);
    expect(xmlField(over.text, 'message')).toMatch(/8193 bytes, over the limit of 8192/);
  });

  it('rejects a POST over 60 KB (query + body) with 413 and accepts exactly 60 KB', async () => {
    const query = 'mboxPC=v9';
    const bodyBase = 'profile.a=1&pad=';
    const body = bodyBase + 'p'.repeat(61_440 - query.length - bodyBase.length);
    expect((await postForm(update(query), body)).status).toBe(200);
    const over = await postForm(update(query), `${body}p`);
    expect(over.status).toBe(413);
    expect(xmlField(over.text, 'message')).toMatch(/61441 bytes, over the limit of 61440/);
    // A 60 KB POST carried entirely in the query string passes too.
    const longQuery = `mboxPC=v10&pad=${'q'.repeat(61_440 - 'mboxPC=v10&pad='.length)}`;
    expect((await send(update(longQuery), { method: 'POST' })).status).toBe(200);
    expect((await send(update(`${longQuery}q`), { method: 'POST' })).status).toBe(413);
  });

  it('refuses a non-form POST body with 415', async () => {
    const answer = await send(update('mboxPC=v11'), {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(answer.status).toBe(415);
  });
});

describe('single profile update with createOnSingleUpdate: false', () => {
  it('answers success for an unknown id but creates nothing, and updates a known one', async () => {
    const strict = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, createOnSingleUpdate: false });
    try {
      const unknown = await send(`${strict.url}/m2/${CLIENT}/profile/update?mboxPC=new&profile.a=1`);
      expect(unknown.status).toBe(200);
      expect(xmlField(unknown.text, 'success')).toBe('true');
      expect(strict.store.get('pcId', 'new')).toBeUndefined();

      strict.store.seed('thirdPartyId', 'known', { a: 'old', b: 'kept' });
      await send(`${strict.url}/m2/${CLIENT}/profile/update?mbox3rdPartyId=known&profile.a=new`);
      expect(strict.store.get('thirdPartyId', 'known')).toEqual({ a: 'new', b: 'kept' });
    } finally {
      await strict.close();
    }
  });
});

describe("single profile update with createOnSingleUpdate: 'pcId' (stand-alone and npm start)", () => {
  it('creates an mboxPC profile Target issued, but drops an unknown mbox3rdPartyId with a success answer', async () => {
    const faithful = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, createOnSingleUpdate: 'pcId' });
    try {
      const pc = await send(`${faithful.url}/m2/${CLIENT}/profile/update?mboxPC=issued-1&profile.a=1`);
      expect(pc.status).toBe(200);
      expect(faithful.store.get('pcId', 'issued-1')).toEqual({ a: '1' });
      const thirdParty = await send(`${faithful.url}/m2/${CLIENT}/profile/update?mbox3rdPartyId=CRM-new&profile.a=1`);
      expect(thirdParty.status).toBe(200);
      expect(xmlField(thirdParty.text, 'success')).toBe('true');
      expect(faithful.store.get('thirdPartyId', 'CRM-new')).toBeUndefined();
    } finally {
      await faithful.close();
    }
  });
});

describe('single profile update with authentication', () => {
  it('answers 401 without or with a wrong bearer token and 200 with the right one', async () => {
    const secured = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, authToken: 'tok-123' });
    try {
      const url = `${secured.url}/m2/${CLIENT}/profile/update?mboxPC=v1&profile.a=1`;
      const missing = await send(url);
      expect(missing.status).toBe(401);
      expect(xmlField(missing.text, 'message')).toMatch(/missing/);
      expect((await send(url, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
      expect(secured.store.size).toBe(0);
      expect((await send(url, { headers: { authorization: 'Bearer tok-123' } })).status).toBe(200);
      expect(secured.store.get('pcId', 'v1')).toEqual({ a: '1' });
    } finally {
      await secured.close();
    }
  });
});
