import { describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
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

// Batches complete at once and the limit is out of the way: these tests read what landed.
const start = simulatorsPerTest(() => ({ batchProcessingMs: 0, bulkCallsPerMinute: 1000 }));

async function submit(sim: Simulator, rows: string[][]): Promise<string> {
  const answer = await postForm(
    `${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`,
    encodeBatch(['thirdPartyId', 'a'], rows),
  );
  const link = xmlField(answer.text, 'batchStatus');
  if (link === undefined) throw new Error(`not accepted: ${answer.text}`);
  return onSimulator(sim.url, link);
}

const fetchStatus = async (sim: Simulator, id: string): Promise<number> =>
  (await send(`${sim.url}/rest/v1/profiles/thirdPartyId/${id}?client=${CLIENT}`)).status;

describe('bulk rows that never land (Adobe: up to 0.1% of large batches)', () => {
  it('loseBulkRows: the next row of that id is reported successful, never stored; the one after lands', async () => {
    const sim = await start();
    const set = await send(`${sim.url}/_simulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ loseBulkRows: ['CRM-LOST'] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(set.status).toBe(200);
    const faults = JSON.parse((await send(`${sim.url}/_simulator/faults`)).text) as { account: object };
    expect(faults.account).toMatchObject({ loseBulkRows: 1 });

    const details = await waitForBatch(
      await submit(sim, [
        ['CRM-LOST', '1'],
        ['CRM-KEPT', '2'],
      ]),
    );
    expect(xmlField(details, 'successfulUpdates')).toBe('2');
    expect(xmlField(details, 'failedUpdates')).toBe('0');
    expect(details).not.toContain('<profile>');
    expect(sim.store.get('thirdPartyId', 'CRM-KEPT')).toEqual({ a: '2' });
    expect(sim.store.get('thirdPartyId', 'CRM-LOST')).toBeUndefined();
    expect(await fetchStatus(sim, 'CRM-LOST')).toBe(404);
    expect(sim.stats.lostRows).toBe(1);

    // Once per listing: the row sent again lands.
    await waitForBatch(await submit(sim, [['CRM-LOST', '3']]));
    expect(sim.store.get('thirdPartyId', 'CRM-LOST')).toEqual({ a: '3' });
    expect(await fetchStatus(sim, 'CRM-LOST')).toBe(200);
    const stats = JSON.parse((await send(`${sim.url}/_simulator/stats`)).text) as Record<string, unknown>;
    expect(stats).toMatchObject({ lostRows: 1 });
  });

  it('bulkRowLoss: that share of rows is lost at random (drawn with `random`), 0.1 % by default', async () => {
    let draws = 0;
    // Every other draw is under the share: rows 1 and 3 of four are lost.
    const sim = await start({ bulkRowLoss: 0.5, random: () => (draws++ % 2 === 0 ? 0.1 : 0.9) });
    const details = await waitForBatch(
      await submit(sim, [
        ['CRM-1', '1'],
        ['CRM-2', '2'],
        ['CRM-3', '3'],
        ['CRM-4', '4'],
      ]),
    );
    expect(xmlField(details, 'successfulUpdates')).toBe('4');
    expect([...sim.store.all().keys()].sort()).toEqual(['3p:CRM-2', '3p:CRM-4']);
    expect(sim.stats.lostRows).toBe(2);

    // Without the option, Adobe's 0.1 %: a draw under it loses the row, one above keeps it.
    const draws2 = [0.0005, 0.0015];
    const plain = await startSimulator({
      clientCode: CLIENT,
      batchProcessingMs: 0,
      random: () => draws2.shift() ?? 0.5,
    });
    try {
      await waitForBatch(
        await submit(plain, [
          ['CRM-5', '5'],
          ['CRM-6', '6'],
        ]),
      );
      expect([...plain.store.all().keys()]).toEqual(['3p:CRM-6']);
      expect(plain.stats.lostRows).toBe(1);
    } finally {
      await plain.close();
    }
  });

  it('refuses a share outside 0-1', async () => {
    await expect(startSimulator({ clientCode: CLIENT, bulkRowLoss: 1.5 })).rejects.toThrow(RangeError);
  });
});
