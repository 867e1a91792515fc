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

// Batches complete at once and the limit is out of the way: these tests read the rows listed.
const start = simulatorsPerTest(() => ({ batchProcessingMs: 0, bulkCallsPerMinute: 1000 }));

async function submit(sim: Simulator, rows: string[][], api: 'v1' | 'v2' = 'v2'): Promise<string> {
  const path = api === 'v2' ? 'v2/profile/batchUpdate' : 'profile/batchUpdate';
  const answer = await postForm(`${sim.url}/m2/${CLIENT}/${path}`, encodeBatch(['thirdPartyId', 'a'], rows));
  const link = xmlField(answer.text, 'batchStatus');
  if (link === undefined) throw new Error(`not accepted: ${answer.text}`);
  return onSimulator(sim.url, link);
}

/** The ids of `<profile><id>…</id><status>failed</status></profile>` elements, entities resolved. */
function failedIds(xml: string): string[] {
  return [...xml.matchAll(/<profile><id>([^<]*)<\/id><status>failed<\/status><\/profile>/g)].map((m) =>
    (m[1] ?? '')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&'),
  );
}

describe('failed rows in the batch status', () => {
  it('are listed one <profile> each, inside <response>, with showDetails=true', async () => {
    const sim = await start();
    sim.faults.rejectVisitor('CRM-NO');
    const link = await submit(sim, [
      ['CRM-OK', '1'],
      ['CRM-NO', '2'],
      ['a/b', '3'],
      ['CRM-LONG', 'x'.repeat(257)],
    ]);
    const details = await waitForBatch(link);
    expect(xmlField(details, 'successfulUpdates')).toBe('1');
    expect(xmlField(details, 'failedUpdates')).toBe('3');
    expect(failedIds(details)).toEqual(['CRM-NO', 'a/b', 'CRM-LONG']);
    expect(details).toMatch(
      /^<response>.*<failedUpdates>3<\/failedUpdates><profile><id>CRM-NO<\/id><status>failed<\/status><\/profile>.*<\/response>$/,
    );
    expect(failedIds((await send(link)).text)).toEqual([]);
  });

  it('escape ids for XML', async () => {
    const sim = await start();
    const id = `<x&"y'>`;
    sim.faults.rejectVisitor(id);
    const details = await waitForBatch(await submit(sim, [[id, '1']]));
    expect(details).toContain('<id>&lt;x&amp;&quot;y&apos;&gt;</id>');
    expect(failedIds(details)).toEqual([id]);
  });

  it('can fail without being listed (failRowsUnlisted), counts staying right', async () => {
    const sim = await start();
    const set = await send(`${sim.url}/_simulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ failRowsUnlisted: ['CRM-SILENT'], rejectVisitors: ['CRM-LOUD'] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(set.status).toBe(200);
    const details = await waitForBatch(
      await submit(sim, [
        ['CRM-SILENT', '1'],
        ['CRM-LOUD', '2'],
        ['CRM-FINE', '3'],
      ]),
    );
    expect(xmlField(details, 'failedUpdates')).toBe('2');
    expect(xmlField(details, 'successfulUpdates')).toBe('1');
    expect(failedIds(details)).toEqual(['CRM-LOUD']);
    expect(sim.store.get('thirdPartyId', 'CRM-SILENT')).toBeUndefined();
  });

  it('are not listed with listFailedRows: false', async () => {
    const sim = await start({ listFailedRows: false });
    sim.faults.rejectVisitor('CRM-NO');
    const details = await waitForBatch(await submit(sim, [['CRM-NO', '1']]));
    expect(xmlField(details, 'failedUpdates')).toBe('1');
    expect(failedIds(details)).toEqual([]);
  });

  it('do not include v1 rows for unknown profiles, which are profilesNotFound', async () => {
    // The faithful reading: only an mboxPC (issued by Target) exists unseen; v1, like the
    // single update, creates nothing for an unknown mbox3rdPartyId.
    const sim = await start({ createOnSingleUpdate: 'pcId' });
    const details = await waitForBatch(await submit(sim, [['CRM-UNKNOWN', '1']], 'v1'));
    expect(xmlField(details, 'profilesNotFound')).toBe('1');
    expect(xmlField(details, 'failedUpdates')).toBe('0');
    expect(failedIds(details)).toEqual([]);
  });
});
