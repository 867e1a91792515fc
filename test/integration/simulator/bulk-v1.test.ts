import { describe, expect, it } from 'vitest';
import type { Simulator } from '../../../src/simulator/server.js';
import { CLIENT, simulatorsPerTest, encodeBatch, onSimulator, postForm, waitForBatch, xmlField } from './helpers.js';

// Batches complete at once and the limit is out of the way: these tests read v1's answers.
const start = simulatorsPerTest(() => ({ batchProcessingMs: 0, bulkCallsPerMinute: 1000 }));

const v1Url = (sim: Simulator): string => `${sim.url}/m2/${CLIENT}/profile/batchUpdate`;
const v2Url = (sim: Simulator): string => `${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`;

/** Submits a file and waits until it is processed; returns the link and the detailed status. */
async function run(
  sim: Simulator,
  url: string,
  header: string[],
  rows: string[][],
): Promise<{ link: string; status: string }> {
  const answer = await postForm(url, encodeBatch(header, rows));
  const link = xmlField(answer.text, 'batchStatus');
  if (link === undefined) throw new Error(`not accepted: ${answer.text}`);
  return { link, status: await waitForBatch(onSimulator(sim.url, link)) };
}

describe('bulk profile update v1', () => {
  it('updates existing profiles only and counts unknown ids as profilesNotFound', async () => {
    // The faithful reading: only an mboxPC (issued by Target) exists unseen; v1, like the
    // single update, creates nothing for an unknown mbox3rdPartyId.
    const sim = await start({ createOnSingleUpdate: 'pcId' });
    sim.store.seed('thirdPartyId', 'CRM-KNOWN', { a: 'old' });
    const { link, status } = await run(
      sim,
      v1Url(sim),
      ['thirdPartyId', 'a'],
      [
        ['CRM-KNOWN', 'new'],
        ['CRM-NEW', 'x'],
      ],
    );
    expect(link).toMatch(/^http:\/\/mboxedge45\.tt\.omtrdc\.net\/m2\/acme\/profile\/batchStatus\?batchId=/);
    expect(xmlField(status, 'status')).toBe('complete');
    expect(xmlField(status, 'successfulUpdates')).toBe('1');
    expect(xmlField(status, 'profilesNotFound')).toBe('1');
    expect(xmlField(status, 'failedUpdates')).toBe('0');
    expect(sim.store.get('thirdPartyId', 'CRM-KNOWN')).toEqual({ a: 'new' });
    expect(sim.store.get('thirdPartyId', 'CRM-NEW')).toBeUndefined();
    expect(sim.stats.bulkV1).toBe(1);
    expect(sim.stats.bulk).toBe(0);
  });

  it('overrides nothing and does not reset the v2 override memory', async () => {
    const sim = await start();
    await run(sim, v2Url(sim), ['pcId', 'a', 'b'], [['pc-1', '1', '2']]);
    await run(sim, v1Url(sim), ['pcId', 'c'], [['pc-1', '3']]);
    expect(sim.store.get('pcId', 'pc-1')).toEqual({ a: '1', b: '2', c: '3' });
    await run(sim, v2Url(sim), ['pcId', 'a'], [['pc-1', '4']]);
    expect(sim.store.get('pcId', 'pc-1')).toEqual({ a: '4', c: '3' });
  });

  it('reads the same file format and refuses the same bad files with success=false', async () => {
    const sim = await start();
    const answer = await postForm(v1Url(sim), 'batch=pcId%2Ca%0Av1%2C%zz');
    expect(answer.status).toBe(200);
    expect(xmlField(answer.text, 'success')).toBe('false');
    expect(xmlField(answer.text, 'message')).toMatch(/not valid form encoding/);
    expect(sim.stats.bulkRejected).toBe(1);
  });

  it('shares the per-minute limit with v2', async () => {
    const sim = await start({ bulkCallsPerMinute: 2, bulkRateWindowMs: 60_000 });
    const body = encodeBatch(['pcId', 'a'], [['v', '1']]);
    expect((await postForm(v2Url(sim), body)).status).toBe(200);
    expect((await postForm(v1Url(sim), body)).status).toBe(200);
    expect((await postForm(v1Url(sim), body)).status).toBe(503);
    expect((await postForm(v2Url(sim), body)).status).toBe(503);
  });
});
