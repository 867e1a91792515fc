import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import { CLIENT, send } from './helpers.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT });
});
afterAll(async () => {
  await sim.close();
});

interface FetchBody {
  client?: string;
  visitorId?: string;
  modifiedAt?: string;
  tntId?: string;
  thirdPartyId?: string;
  profileAttributes: Record<string, { value: string; modifiedAt: string }>;
}

describe('fetch profile API', () => {
  it('returns attributes with value and modifiedAt for a tntId', async () => {
    const before = Date.now();
    await send(`${sim.url}/m2/${CLIENT}/profile/update?mboxPC=1368007744041-575948.01_00&profile.tier=gold`);
    const answer = await send(`${sim.url}/rest/v1/profiles/1368007744041-575948.01_00?client=${CLIENT}`);
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.text) as FetchBody;
    expect(body.tntId).toBe('1368007744041-575948.01_00');
    expect(body).toMatchObject({ client: CLIENT, visitorId: '1368007744041-575948.01_00' });
    expect(body.modifiedAt).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);
    expect(body.profileAttributes.tier?.value).toBe('gold');
    const modifiedAt = Date.parse(body.profileAttributes.tier?.modifiedAt ?? '');
    expect(modifiedAt).toBeGreaterThanOrEqual(before - 1);
    expect(body.profileAttributes.tier?.modifiedAt).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);
  });

  it('returns a thirdPartyId profile, including percent-encoded ids', async () => {
    sim.store.seed('thirdPartyId', 'CRM 1é', { a: 'x' });
    const answer = await send(
      `${sim.url}/rest/v1/profiles/thirdPartyId/${encodeURIComponent('CRM 1é')}?client=${CLIENT}`,
    );
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.text) as FetchBody;
    expect(body.thirdPartyId).toBe('CRM 1é');
    expect(body.profileAttributes.a?.value).toBe('x');
  });

  it('answers 404 with a JSON message when no profile exists', async () => {
    const answer = await send(`${sim.url}/rest/v1/profiles/thirdPartyId/nobody?client=${CLIENT}`);
    expect(answer.status).toBe(404);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(answer.text)).toEqual({
      status: 404,
      message: `No profile found for client ${CLIENT} with third party id=nobody`,
    });
  });

  it('answers 400 for a wrong or missing client', async () => {
    expect((await send(`${sim.url}/rest/v1/profiles/x?client=other`)).status).toBe(400);
    expect((await send(`${sim.url}/rest/v1/profiles/x`)).status).toBe(400);
  });

  it('requires the bearer token when authentication is on', async () => {
    const secured = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, authToken: 'tok' });
    try {
      secured.store.seed('pcId', 'p1', { a: '1' });
      const url = `${secured.url}/rest/v1/profiles/p1?client=${CLIENT}`;
      expect((await send(url)).status).toBe(401);
      expect((await send(url, { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
    } finally {
      await secured.close();
    }
  });
});
