import { describe, expect, it } from 'vitest';
import type { Simulator } from '../../../src/simulator/server.js';
import {
  CLIENT,
  simulatorsPerTest,
  encodeBatch,
  onSimulator,
  postForm,
  send,
  waitForBatch,
  xmlField,
} from './helpers.js';

const DAY = 24 * 3600_000;
let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
// Batches complete at once and the clock is the test's: these tests move it by days.
const start = simulatorsPerTest(() => ({ batchProcessingMs: 0, now: () => clock }));

const fetchStatus = async (sim: Simulator, id: string): Promise<number> =>
  (await send(`${sim.url}/rest/v1/profiles/thirdPartyId/${id}?client=${CLIENT}`)).status;
const single = (sim: Simulator, id: string, value: string) =>
  send(`${sim.url}/m2/${CLIENT}/profile/update?mbox3rdPartyId=${id}&profile.a=${value}`);

async function bulk(sim: Simulator, api: 'v1' | 'v2', rows: string[][]): Promise<string> {
  const path = api === 'v2' ? 'v2/profile/batchUpdate' : 'profile/batchUpdate';
  const answer = await postForm(`${sim.url}/m2/${CLIENT}/${path}`, encodeBatch(['thirdPartyId', 'b'], rows));
  return waitForBatch(onSimulator(sim.url, xmlField(answer.text, 'batchStatus') ?? ''));
}

describe('profile lifetime', () => {
  it('ends two weeks after the last activity by default; a fetch is not activity', async () => {
    const sim = await start();
    expect((await single(sim, 'CRM-1', '1')).status).toBe(200);
    const created = clock;
    clock += 14 * DAY - 1;
    expect(await fetchStatus(sim, 'CRM-1')).toBe(200);
    clock = created + 14 * DAY;
    expect(await fetchStatus(sim, 'CRM-1')).toBe(404);
    expect(sim.store.get('thirdPartyId', 'CRM-1')).toBeUndefined();
  });

  it('counts from the last write that landed', async () => {
    const sim = await start();
    await single(sim, 'CRM-2', '1');
    clock += 13 * DAY;
    await single(sim, 'CRM-2', '2');
    clock += 13 * DAY;
    expect(sim.store.get('thirdPartyId', 'CRM-2')).toEqual({ a: '2' });
    const body = JSON.parse((await send(`${sim.url}/rest/v1/profiles/thirdPartyId/CRM-2?client=${CLIENT}`)).text) as {
      modifiedAt: string;
    };
    expect(body.modifiedAt).toBe(new Date(clock - 13 * DAY).toISOString());
  });

  it('answers a single update to an expired profile with success and stores nothing, even where unknown ids are created', async () => {
    const sim = await start({ createOnSingleUpdate: 'all' });
    await single(sim, 'CRM-3', '1');
    clock += 14 * DAY;
    const answer = await single(sim, 'CRM-3', '2');
    expect(answer.status).toBe(200);
    expect(xmlField(answer.text, 'success')).toBe('true');
    expect(await fetchStatus(sim, 'CRM-3')).toBe(404);
  });

  it('is restarted by a v2 row, which creates the profile again; a v1 row finds nothing', async () => {
    const sim = await start();
    await single(sim, 'CRM-4', '1');
    clock += 14 * DAY;
    const v1 = await bulk(sim, 'v1', [['CRM-4', 'x']]);
    expect(xmlField(v1, 'profilesNotFound')).toBe('1');
    expect(await fetchStatus(sim, 'CRM-4')).toBe(404);
    const v2 = await bulk(sim, 'v2', [['CRM-4', 'y']]);
    expect(xmlField(v2, 'successfulUpdates')).toBe('1');
    expect(sim.store.get('thirdPartyId', 'CRM-4')).toEqual({ b: 'y' });
    expect((await single(sim, 'CRM-4', '3')).status).toBe(200);
    expect(sim.store.get('thirdPartyId', 'CRM-4')).toEqual({ a: '3', b: 'y' });
  });

  it('takes profileLifetimeMs up to the documented 90 days', async () => {
    const sim = await start({ profileLifetimeMs: 90 * DAY });
    await single(sim, 'CRM-5', '1');
    clock += 90 * DAY - 1;
    expect(await fetchStatus(sim, 'CRM-5')).toBe(200);
    await expect(start({ profileLifetimeMs: 90 * DAY + 1 })).rejects.toThrow(RangeError);
  });
});
