import { describe, expect, it } from 'vitest';
import type { Simulator } from '../../../src/simulator/server.js';
import { CLIENT, simulatorsPerTest, send, xmlField } from './helpers.js';

let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
// Batches complete at once and the clock is the test's: these tests are about tokens, not pace.
const start = simulatorsPerTest(() => ({ batchProcessingMs: 0, now: () => clock }));

const postJson = (url: string, json: unknown, headers: Record<string, string> = {}) =>
  send(url, {
    method: 'POST',
    body: JSON.stringify(json),
    headers: { 'content-type': 'application/json', ...headers },
  });
const single = (sim: Simulator, token?: string) =>
  send(`${sim.url}/m2/${CLIENT}/profile/update?mboxPC=p1&profile.a=1`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
const fetchProfile = (sim: Simulator, token: string) =>
  send(`${sim.url}/rest/v1/profiles/p1?client=${CLIENT}`, { headers: { authorization: `Bearer ${token}` } });

describe('the profile token at run time', () => {
  it('is regenerated over /_simulator/token: the old one fails at once, control stays open', async () => {
    const sim = await start({ authToken: 'old-token' });
    expect((await single(sim, 'old-token')).status).toBe(200);
    const rotated = await postJson(`${sim.url}/_simulator/token`, { action: 'regenerate' });
    expect(rotated.status).toBe(200);
    const { token } = JSON.parse(rotated.text) as { token: string };
    expect(token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(sim.token.current).toBe(token);
    const refused = await single(sim, 'old-token');
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    expect(xmlField(refused.text, 'success')).toBe('false');
    expect(xmlField(refused.text, 'message')).toBe('Profile API authentication token is not valid');
    expect((await single(sim, token)).status).toBe(200);
    expect((await send(`${sim.url}/_simulator/stats`)).status).toBe(200);
  });

  it('is expired and set over /_simulator/token', async () => {
    const sim = await start({ authToken: 'tok' });
    expect((await postJson(`${sim.url}/_simulator/token`, { action: 'expire' })).text).toBe('{"ok":true}');
    const expired = await single(sim, 'tok');
    expect(expired.status).toBe(401);
    expect(xmlField(expired.text, 'message')).toBe('Profile API authentication token is expired');
    expect((await fetchProfile(sim, 'tok')).status).toBe(401);
    const set = await postJson(`${sim.url}/_simulator/token`, { action: 'set', token: 'fresh' });
    expect(JSON.parse(set.text)).toEqual({ token: 'fresh' });
    expect((await single(sim, 'fresh')).status).toBe(200);
    expect((await postJson(`${sim.url}/_simulator/token`, { action: 'burn' })).status).toBe(400);
  });

  it('turns authentication on when rotated on a simulator started without one', async () => {
    const sim = await start();
    expect((await single(sim)).status).toBe(200);
    const { token } = JSON.parse((await postJson(`${sim.url}/_simulator/token`, { action: 'regenerate' })).text) as {
      token: string;
    };
    expect((await single(sim)).status).toBe(401);
    expect((await single(sim, token)).status).toBe(200);
  });

  it('expires by the clock after tokenLifetimeMs', async () => {
    const sim = await start({ authToken: 'tok', tokenLifetimeMs: 3_600_000 });
    clock += 3_599_999;
    expect((await single(sim, 'tok')).status).toBe(200);
    clock += 1;
    expect((await single(sim, 'tok')).status).toBe(401);
    expect(JSON.parse((await fetchProfile(sim, 'tok')).text)).toEqual({
      message: 'Profile API authentication token is expired',
    });
    sim.token.regenerate();
    expect((await single(sim, sim.token.current)).status).toBe(200);
  });

  it('answers 403 instead of 401 with authFailureStatus: 403', async () => {
    const sim = await start({ authToken: 'tok', authFailureStatus: 403 });
    const refused = await single(sim, 'wrong');
    expect(refused.status).toBe(403);
    expect(xmlField(refused.text, 'message')).toBe('Profile API authentication token is not valid');
    expect((await fetchProfile(sim, 'wrong')).status).toBe(403);
  });

  it('fails a set number of update calls with the authFailures fault, then recovers; fetch is spared', async () => {
    const sim = await start({ authToken: 'tok' });
    expect((await postJson(`${sim.url}/_simulator/faults`, { authFailures: { status: 403, count: 2 } })).status).toBe(
      200,
    );
    expect((await fetchProfile(sim, 'tok')).status).toBe(404);
    expect((await single(sim, 'tok')).status).toBe(403);
    expect((await single(sim, 'tok')).status).toBe(403);
    expect((await single(sim, 'tok')).status).toBe(200);
  });
});

describe('the control token', () => {
  it('guards /_simulator routes when set, and the profile token does not open them', async () => {
    const sim = await start({ authToken: 'profile', controlToken: 'control' });
    expect((await send(`${sim.url}/_simulator/stats`)).status).toBe(401);
    expect((await send(`${sim.url}/_simulator/stats`, { headers: { authorization: 'Bearer profile' } })).status).toBe(
      401,
    );
    expect((await send(`${sim.url}/_simulator/stats`, { headers: { authorization: 'Bearer control' } })).status).toBe(
      200,
    );
    expect(
      (await postJson(`${sim.url}/_simulator/token`, { action: 'expire' }, { authorization: 'Bearer control' })).status,
    ).toBe(200);
  });
});

describe('IMS and the Admin API', () => {
  const ims = (sim: Simulator, secret = 'simulator-client-secret') =>
    send(`${sim.url}/ims/token/v3`, {
      method: 'POST',
      body: `client_id=target-ingest-simulator&client_secret=${secret}&grant_type=client_credentials&scope=openid%2CAdobeID%2Ctarget_sdk`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  const admin = (
    sim: Simulator,
    method: 'GET' | 'POST',
    imsToken: string,
    options: { tenant?: string; apiKey?: string; scope?: string } = {},
  ) =>
    send(
      `${sim.url}/${options.tenant ?? CLIENT}/target/authentication/token?authorizationScope=${options.scope ?? 'profile_api'}`,
      {
        method,
        headers: { authorization: `Bearer ${imsToken}`, 'x-api-key': options.apiKey ?? 'target-ingest-simulator' },
      },
    );

  it('issue an IMS token, read the profile token with it, and regenerate it (the old one fails)', async () => {
    const sim = await start({ authToken: 'first', tokenLifetimeMs: 7_200_000 });
    expect((await ims(sim, 'wrong')).status).toBe(401);
    const issued = JSON.parse((await ims(sim)).text) as {
      access_token: string;
      token_type: string;
      expires_in: number;
    };
    expect(issued.token_type).toBe('bearer');
    expect(issued.expires_in).toBe(86_399);
    clock += 1_000;
    const read = await admin(sim, 'GET', issued.access_token);
    expect(read.status).toBe(200);
    expect(read.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(read.text)).toEqual({
      accessToken: 'first',
      tokenType: 'bearer',
      scope: 'profile_api',
      expiresIn: 7_199,
    });
    const created = JSON.parse((await admin(sim, 'POST', issued.access_token)).text) as {
      accessToken: string;
      expiresIn: number;
    };
    expect(created.accessToken).not.toBe('first');
    expect(created.expiresIn).toBe(7_200);
    expect((await single(sim, 'first')).status).toBe(401);
    expect((await single(sim, created.accessToken)).status).toBe(200);
    expect(sim.stats.admin).toBe(2);
  });

  it('refuse a missing or expired IMS token, a wrong api key, tenant or scope', async () => {
    const sim = await start({ adminTenant: 'acmecorp' });
    const { access_token: token } = JSON.parse((await ims(sim)).text) as { access_token: string };
    expect((await admin(sim, 'GET', 'made-up', { tenant: 'acmecorp' })).status).toBe(401);
    expect((await admin(sim, 'GET', token, { tenant: 'acmecorp', apiKey: 'other' })).status).toBe(403);
    expect((await admin(sim, 'GET', token)).status).toBe(404);
    expect((await admin(sim, 'GET', token, { tenant: 'acmecorp', scope: 'other' })).status).toBe(400);
    expect((await admin(sim, 'GET', token, { tenant: 'acmecorp' })).status).toBe(200);
    clock += 24 * 3600_000;
    expect((await admin(sim, 'GET', token, { tenant: 'acmecorp' })).status).toBe(401);
  });

  it('count Admin API calls against the shared per-minute limit (503 in JSON)', async () => {
    const sim = await start({ bulkCallsPerMinute: 2 });
    const { access_token: token } = JSON.parse((await ims(sim)).text) as { access_token: string };
    expect((await send(`${sim.url}/m2/${CLIENT}/profile/batchStatus?batchId=none`)).status).toBe(404);
    expect((await admin(sim, 'GET', token)).status).toBe(200);
    const refused = await admin(sim, 'GET', token);
    expect(refused.status).toBe(503);
    expect((JSON.parse(refused.text) as { message: string }).message).toMatch(/Limit of 2 calls per 60 s/);
    // IMS is not a Target API: not counted.
    expect((await ims(sim)).status).toBe(200);
  });
});
