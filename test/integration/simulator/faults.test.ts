import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errors } from 'undici';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import { CLIENT, encodeBatch, postForm, send, xmlField } from './helpers.js';

let sim: Simulator;
const single = (id: string): string => `${sim.url}/m2/${CLIENT}/profile/update?mboxPC=${id}&profile.a=1`;
const bulk = (): string => `${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`;
const body = encodeBatch(['pcId', 'a'], [['b1', '1']]);

beforeAll(async () => {
  sim = await startSimulator({ clientCode: CLIENT });
});
afterAll(async () => {
  await sim.close();
});
afterEach(() => {
  sim.faults.restore();
  sim.store.clear();
  sim.stats.reset();
});

describe('fault injection', () => {
  it('an outage fails single, bulk and status calls until restore, but not fetch', async () => {
    const accepted = await postForm(bulk(), body);
    const link = xmlField(accepted.text, 'batchStatus') ?? '';
    sim.faults.outage(503, { retryAfterSeconds: 7 });
    for (const answer of [await send(single('o1')), await postForm(bulk(), body), await send(link)]) {
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('7');
      expect(xmlField(answer.text, 'success')).toBe('false');
    }
    expect(sim.store.get('pcId', 'o1')).toBeUndefined();
    expect((await send(`${sim.url}/rest/v1/profiles/b1?client=${CLIENT}`)).status).toBe(200);
    sim.faults.restore();
    expect((await send(single('o1'))).status).toBe(200);
    expect(sim.store.get('pcId', 'o1')).toEqual({ a: '1' });
  });

  it('outage() defaults to 503 without Retry-After', async () => {
    sim.faults.outage();
    const answer = await send(single('o2'));
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBeUndefined();
  });

  it('failNext fails exactly n calls with the given status and Retry-After', async () => {
    sim.faults.failNext(2, 502, { retryAfterSeconds: 3 });
    const first = await send(single('f1'));
    const second = await postForm(bulk(), body);
    const third = await send(single('f1'));
    expect([first.status, second.status, third.status]).toEqual([502, 502, 200]);
    expect(first.headers['retry-after']).toBe('3');
    expect(second.headers['retry-after']).toBe('3');
    expect(third.headers['retry-after']).toBeUndefined();
    expect(sim.stats.byStatus).toEqual({ 502: 2, 200: 1 });
    expect(sim.stats.single).toBe(1);
    expect(sim.stats.bulk).toBe(0);
  });

  it('dropConnections closes the socket without an answer', async () => {
    sim.faults.dropConnections(1);
    const failure = await send(single('d1')).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(errors.SocketError);
    expect((failure as errors.SocketError).code).toBe('UND_ERR_SOCKET');
    expect(sim.store.get('pcId', 'd1')).toBeUndefined();
    expect(sim.stats.dropped).toBe(1);
    expect(sim.stats.requests.at(-1)).toMatchObject({ path: `/m2/${CLIENT}/profile/update`, status: 0 });
    expect((await send(single('d1'))).status).toBe(200);
  });

  it('dropConnections also drops a bulk upload', async () => {
    sim.faults.dropConnections(1);
    await expect(postForm(bulk(), body)).rejects.toThrow();
    expect(sim.stats.bulk).toBe(0);
  });

  it('setLatency delays profile calls until restore', async () => {
    sim.faults.setLatency(250);
    const started = Date.now();
    expect((await send(single('l1'))).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    sim.faults.restore();
    const again = Date.now();
    await send(single('l1'));
    expect(Date.now() - again).toBeLessThan(200);
  });

  it('stats record each request without its query and reset to zero', async () => {
    await send(single('s1'));
    await send(`${sim.url}/m2/other/profile/update?mboxPC=x`);
    expect(sim.stats.single).toBe(1);
    expect(sim.stats.byStatus).toEqual({ 200: 1, 400: 1 });
    expect(sim.stats.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['GET', `/m2/${CLIENT}/profile/update`, 200],
      ['GET', '/m2/other/profile/update', 400],
    ]);
    sim.stats.reset();
    expect(sim.stats.single).toBe(0);
    expect(sim.stats.requests).toEqual([]);
  });
});

describe('start options', () => {
  it('latencyMs delays every profile call', async () => {
    const slow = await startSimulator({ clientCode: CLIENT, latencyMs: 150 });
    try {
      const started = Date.now();
      await send(`${slow.url}/m2/${CLIENT}/profile/update?mboxPC=x&profile.a=1`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    } finally {
      await slow.close();
    }
  });
});
