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

// Batches complete at once and the limit is out of the way: these tests look at what rows leave behind.
const start = simulatorsPerTest(() => ({ batchProcessingMs: 0, bulkCallsPerMinute: 1000 }));

/** Submits one v2 file and waits until it is processed; returns the detailed status. */
async function v2(sim: Simulator, header: string[], rows: string[][]): Promise<string> {
  const answer = await postForm(`${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`, encodeBatch(header, rows));
  const link = xmlField(answer.text, 'batchStatus');
  if (link === undefined) throw new Error(`not accepted: ${answer.text}`);
  return waitForBatch(onSimulator(sim.url, link));
}

describe('the v2 override (strictest reading, on by default)', () => {
  it('removes what the previous v2 row set and the next one does not carry', async () => {
    const sim = await start();
    await v2(sim, ['thirdPartyId', 'a', 'b'], [['CRM-1', '1', '2']]);
    expect(sim.store.get('thirdPartyId', 'CRM-1')).toEqual({ a: '1', b: '2' });
    const status = await v2(sim, ['thirdPartyId', 'a'], [['CRM-1', '3']]);
    expect(xmlField(status, 'successfulUpdates')).toBe('1');
    expect(sim.store.get('thirdPartyId', 'CRM-1')).toEqual({ a: '3' });
  });

  it('counts an empty cell as not carried, and applies to pcId rows too', async () => {
    const sim = await start();
    await v2(sim, ['pcId', 'a', 'b'], [['pc-1', '1', '2']]);
    await v2(sim, ['pcId', 'a', 'b'], [['pc-1', 'x', '']]);
    expect(sim.store.get('pcId', 'pc-1')).toEqual({ a: 'x' });
  });

  it('is not reset by a single update in between, and removes what that update wrote to a name the v2 row had set', async () => {
    const sim = await start();
    await v2(sim, ['thirdPartyId', 'a', 'b'], [['CRM-2', '1', '2']]);
    const single = await send(
      `${sim.url}/m2/${CLIENT}/profile/update?mbox3rdPartyId=CRM-2&profile.b=single&profile.c=kept`,
    );
    expect(single.status).toBe(200);
    expect(sim.store.get('thirdPartyId', 'CRM-2')).toEqual({ a: '1', b: 'single', c: 'kept' });
    await v2(sim, ['thirdPartyId', 'a'], [['CRM-2', '3']]);
    expect(sim.store.get('thirdPartyId', 'CRM-2')).toEqual({ a: '3', c: 'kept' });
  });

  it('remembers only the last v2 row’s names', async () => {
    const sim = await start();
    await v2(sim, ['thirdPartyId', 'a', 'b'], [['CRM-3', '1', '2']]);
    await v2(sim, ['thirdPartyId', 'a'], [['CRM-3', '3']]);
    sim.store.seed('thirdPartyId', 'CRM-3', { b: 'again' });
    await v2(sim, ['thirdPartyId', 'c'], [['CRM-3', '4']]);
    // a was set by the last v2 row and is gone; b was not, and stays.
    expect(sim.store.get('thirdPartyId', 'CRM-3')).toEqual({ b: 'again', c: '4' });
  });

  it('keeps a row that carries every attribute delivered so far whole', async () => {
    const sim = await start();
    await v2(sim, ['thirdPartyId', 'a', 'b'], [['CRM-4', '1', '2']]);
    await v2(sim, ['thirdPartyId', 'a', 'b', 'c'], [['CRM-4', '1', '5', '6']]);
    expect(sim.store.get('thirdPartyId', 'CRM-4')).toEqual({ a: '1', b: '5', c: '6' });
  });

  it('ignores a batch with only empty values entirely, but an empty row in another batch is still a v2 update', async () => {
    const sim = await start();
    await v2(
      sim,
      ['thirdPartyId', 'a'],
      [
        ['CRM-5', '1'],
        ['CRM-6', '1'],
      ],
    );
    const ignored = await v2(sim, ['thirdPartyId', 'a'], [['CRM-5', ''], ['CRM-6']]);
    expect(xmlField(ignored, 'status')).toBe('complete');
    expect(xmlField(ignored, 'successfulUpdates')).toBe('0');
    expect(sim.store.get('thirdPartyId', 'CRM-5')).toEqual({ a: '1' });
    const mixed = await v2(
      sim,
      ['thirdPartyId', 'a', 'b'],
      [
        ['CRM-5', '', ''],
        ['CRM-7', '1', ''],
      ],
    );
    expect(xmlField(mixed, 'successfulUpdates')).toBe('1');
    expect(xmlField(mixed, 'failedUpdates')).toBe('0');
    expect(sim.store.get('thirdPartyId', 'CRM-5')).toEqual({});
    expect(sim.store.get('thirdPartyId', 'CRM-6')).toEqual({ a: '1' });
  });

  it('does nothing with v2Override: false', async () => {
    const sim = await start({ v2Override: false });
    await v2(sim, ['thirdPartyId', 'a', 'b'], [['CRM-8', '1', '2']]);
    await v2(sim, ['thirdPartyId', 'a'], [['CRM-8', '3']]);
    expect(sim.store.get('thirdPartyId', 'CRM-8')).toEqual({ a: '3', b: '2' });
  });
});
