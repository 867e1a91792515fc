import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import {
  CLIENT,
  encodeBatch,
  encodeBatchTwice,
  onSimulator,
  postForm,
  send,
  waitForBatch,
  xmlField,
} from './helpers.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

let sim: Simulator;
const batchUrl = (): string => `${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`;

/** Submits a body and returns the status link of an accepted batch. */
async function submit(body: string): Promise<string> {
  const answer = await postForm(batchUrl(), body);
  expect(answer.status).toBe(200);
  expect(xmlField(answer.text, 'success'), answer.text).toBe('true');
  const link = xmlField(answer.text, 'batchStatus');
  if (link === undefined) throw new Error(`no batchStatus in ${answer.text}`);
  return onSimulator(sim.url, link);
}

beforeAll(async () => {
  sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, bulkCallsPerMinute: 1000, batchProcessingMs: 0 });
});
afterAll(async () => {
  await sim.close();
});
afterEach(() => {
  sim.store.clear();
  sim.stats.reset();
  sim.faults.restore();
});

describe('bulk profile update v2', () => {
  it('delivers awkward values byte-exact through the one documented form layer', async () => {
    const values = {
      pct: '100% sure %41 %25',
      amp: 'fish & chips&more=',
      plus: 'a+b+ +c',
      eq: 'k=v==',
      quote: '"quoted" \'single\'',
      unicode: 'Zoë 東京 🚀',
    };
    const columns = Object.keys(values);
    const link = await submit(
      encodeBatch(
        ['thirdPartyId', ...columns],
        [
          ['CRM-1', ...Object.values(values)],
          ['CRM-2', 'only pct'],
        ],
      ),
    );
    const status = await waitForBatch(link);
    expect(xmlField(status, 'status')).toBe('complete');
    expect(xmlField(status, 'successfulUpdates')).toBe('2');
    expect(sim.store.get('thirdPartyId', 'CRM-1')).toEqual(values);
    expect(sim.store.get('thirdPartyId', 'CRM-2')).toEqual({ pct: 'only pct' });
    expect(sim.stats.bulk).toBe(1);
  });

  it('stores a cell escape as it stands: Target decodes cells once (the form layer)', async () => {
    await waitForBatch(await submit(encodeBatchTwice(['thirdPartyId', 'a'], [['CRM-3', '50% off, today']])));
    expect(sim.store.get('thirdPartyId', 'CRM-3')).toEqual({ a: '50%25%20off%2C%20today' });
  });

  it('decodes cells a second time with bulkCellDecoding: percent', async () => {
    const twice = await startSimulator({
      ...NO_ROW_LOSS,
      clientCode: CLIENT,
      batchProcessingMs: 0,
      bulkCellDecoding: 'percent',
    });
    try {
      const values = { comma: 'x,y,,z', newline: 'line1\nline2\r\nline3', pct: '100%' };
      const answer = await postForm(
        `${twice.url}/m2/${CLIENT}/v2/profile/batchUpdate`,
        encodeBatchTwice(['pcId', ...Object.keys(values)], [['v,1', ...Object.values(values)]]),
      );
      await waitForBatch(onSimulator(twice.url, xmlField(answer.text, 'batchStatus') ?? ''));
      expect(twice.store.get('pcId', 'v,1')).toEqual(values);
    } finally {
      await twice.close();
    }
  });

  it('truncates the batch at an unencoded &, as Target does', async () => {
    const body = `batch=${encodeURIComponent('pcId,a\nv1,before')}&${encodeURIComponent('after\nv2,lost')}`;
    const status = await waitForBatch(await submit(body));
    expect(xmlField(status, 'batchSize')).toBe('1');
    expect(sim.store.get('pcId', 'v1')).toEqual({ a: 'before' });
    expect(sim.store.get('pcId', 'v2')).toBeUndefined();
  });

  it('reads an unencoded + as a space', async () => {
    await waitForBatch(await submit(`batch=pcId%2Ca%0Av1%2Ca+b`));
    expect(sim.store.get('pcId', 'v1')).toEqual({ a: 'a b' });
  });

  it.each([
    [
      'a lone unencoded %',
      `batch=${encodeURIComponent('pcId,a\nv1,')}100%`,
      /not valid form encoding: a "%" at offset/,
    ],
    ['a %zz escape', 'batch=pcId%2Ca%0Av1%2C%zz', /not valid form encoding/],
    [
      'a row with more cells than columns',
      encodeBatch(['pcId', 'a'], [['v1', '1', '2']]),
      /data row 1 has 3 cells but the header has 2/,
    ],
    [
      'an unknown id column',
      encodeBatch(['mbox3rdPartyId', 'a'], [['v1', '1']]),
      /header must start with "pcId" or "thirdPartyId"/,
    ],
    ['a profile.-prefixed column', encodeBatch(['pcId', 'profile.a'], [['v1', '1']]), /bare name/],
    ['no batch parameter', 'file=pcId%2Ca', /no "batch" parameter/],
  ])('answers HTTP 200 with success=false for %s', async (_label, body, message) => {
    const answer = await postForm(batchUrl(), body);
    expect(answer.status).toBe(200);
    expect(xmlField(answer.text, 'success')).toBe('false');
    expect(xmlField(answer.text, 'message')).toMatch(message);
    expect(sim.stats.bulkRejected).toBe(1);
    expect(sim.stats.bulk).toBe(0);
    expect(sim.store.size).toBe(0);
  });

  it('answers success=false when the body is not form-encoded', async () => {
    const answer = await send(batchUrl(), {
      method: 'POST',
      body: encodeBatch(['pcId', 'a'], [['v1', '1']]),
      headers: { 'content-type': 'text/csv' },
    });
    expect(answer.status).toBe(200);
    expect(xmlField(answer.text, 'message')).toMatch(/Content-Type must be application\/x-www-form-urlencoded/);
  });

  it('never clears a value with an empty cell and skips rows with only empty cells', async () => {
    sim.store.seed('pcId', 'v1', { a: '1', b: '2' });
    const status = await waitForBatch(
      await submit(encodeBatch(['pcId', 'a', 'b'], [['v1', '', '3'], ['v2', '', ''], ['v3']])),
    );
    expect(sim.store.get('pcId', 'v1')).toEqual({ a: '1', b: '3' });
    expect(sim.store.get('pcId', 'v2')).toBeUndefined();
    expect(sim.store.get('pcId', 'v3')).toBeUndefined();
    expect(xmlField(status, 'batchSize')).toBe('3');
    expect(xmlField(status, 'consumedCount')).toBe('3');
    expect(xmlField(status, 'successfulUpdates')).toBe('1');
    expect(xmlField(status, 'failedUpdates')).toBe('0');
  });

  it('counts a row with a too-long value or an invalid thirdPartyId as a failed update only', async () => {
    const status = await waitForBatch(
      await submit(
        encodeBatch(
          ['thirdPartyId', 'a'],
          [
            ['ok', 'fine'],
            ['long', 'x'.repeat(257)],
            ['a/b', 'slash'],
          ],
        ),
      ),
    );
    expect(xmlField(status, 'successfulUpdates')).toBe('1');
    expect(xmlField(status, 'failedUpdates')).toBe('2');
    expect([...sim.store.all().keys()]).toEqual(['3p:ok']);
  });

  it('reads a column name of exactly 128 characters and rejects the batch for 129', async () => {
    const name = '名'.repeat(128);
    const status = await waitForBatch(await submit(encodeBatch(['pcId', name], [['v1', '1']])));
    expect(xmlField(status, 'successfulUpdates')).toBe('1');
    expect(sim.store.get('pcId', 'v1')).toEqual({ [name]: '1' });
    const answer = await postForm(batchUrl(), encodeBatch(['pcId', 'n'.repeat(129)], [['v2', '1']]));
    expect(xmlField(answer.text, 'success')).toBe('false');
    expect(xmlField(answer.text, 'message')).toMatch(/header line: attribute name "n+…" is longer than 128 characters/);
    expect(sim.store.get('pcId', 'v2')).toBeUndefined();
  });

  it('applies a thirdPartyId of exactly 256 characters and fails the row of 257', async () => {
    const ok = ['t'.repeat(256), '🚀'.repeat(256)];
    const status = await waitForBatch(
      await submit(encodeBatch(['thirdPartyId', 'a'], [...ok.map((id) => [id, 'x']), ['t'.repeat(257), 'y']])),
    );
    expect(xmlField(status, 'successfulUpdates')).toBe('2');
    expect(xmlField(status, 'failedUpdates')).toBe('1');
    for (const id of ok) expect(sim.store.get('thirdPartyId', id)).toEqual({ a: 'x' });
    expect(sim.store.get('thirdPartyId', 't'.repeat(257))).toBeUndefined();
  });

  it('applies a row that takes a profile to exactly 64 KB and fails the row that would pass it', async () => {
    const big = 'x'.repeat(65_536 - 3 - 11);
    sim.store.seed('pcId', 'full-1', { big });
    sim.store.seed('pcId', 'full-2', { big });
    const status = await waitForBatch(
      await submit(
        encodeBatch(
          ['pcId', 'z'],
          [
            ['full-1', 'z'.repeat(10)],
            ['full-2', 'z'.repeat(11)],
          ],
        ),
      ),
    );
    expect(xmlField(status, 'successfulUpdates')).toBe('1');
    expect(xmlField(status, 'failedUpdates')).toBe('1');
    expect(sim.store.get('pcId', 'full-1')).toEqual({ big, z: 'z'.repeat(10) });
    expect(sim.store.get('pcId', 'full-2')).toEqual({ big });
  });

  it('fails the rows of a visitor refused by rejectVisitor and applies the others', async () => {
    sim.faults.rejectVisitor('CRM-NO');
    const status = await waitForBatch(
      await submit(
        encodeBatch(
          ['thirdPartyId', 'a'],
          [
            ['CRM-YES', '1'],
            ['CRM-NO', '2'],
          ],
        ),
      ),
    );
    expect(xmlField(status, 'status')).toBe('complete');
    expect(xmlField(status, 'successfulUpdates')).toBe('1');
    expect(xmlField(status, 'failedUpdates')).toBe('1');
    expect(sim.store.get('thirdPartyId', 'CRM-YES')).toEqual({ a: '1' });
    expect(sim.store.get('thirdPartyId', 'CRM-NO')).toBeUndefined();
  });

  it('rejects a body of 50,000,000 bytes (the strictest reading of "under 50 MB") with 413 and reads one just under it', async () => {
    const limit = 50_000_000;
    const under = await postForm(batchUrl(), `batch=${'x'.repeat(limit - 1 - 'batch='.length)}`);
    expect(under.status).toBe(200);
    expect(xmlField(under.text, 'message')).toMatch(/header must start/);
    const at = await postForm(batchUrl(), `batch=${'x'.repeat(limit - 'batch='.length)}`);
    expect(at.status).toBe(413);
    expect(xmlField(at.text, 'success')).toBe('false');
  });

  it('answers 400 for an unknown client code', async () => {
    const answer = await postForm(
      `${sim.url}/m2/other/v2/profile/batchUpdate`,
      encodeBatch(['pcId', 'a'], [['v1', '1']]),
    );
    expect(answer.status).toBe(400);
    expect(xmlField(answer.text, 'message')).toMatch(/Unknown client code/);
  });
});

describe('bulk rate limit', () => {
  it('answers 503 above the configured calls per rolling window, then admits again', async () => {
    const limited = await startSimulator({
      ...NO_ROW_LOSS,
      clientCode: CLIENT,
      bulkCallsPerMinute: 3,
      bulkRateWindowMs: 400,
    });
    try {
      const url = `${limited.url}/m2/${CLIENT}/v2/profile/batchUpdate`;
      const body = encodeBatch(['pcId', 'a'], [['v1', '1']]);
      const first = await Promise.all([1, 2, 3].map(() => postForm(url, body)));
      expect(first.map((a) => a.status)).toEqual([200, 200, 200]);
      const refused = await postForm(url, body);
      expect(refused.status).toBe(503);
      expect(xmlField(refused.text, 'message')).toMatch(
        /Limit of 3 calls per 0.4 s for the Admin, Reporting and bulk profile APIs together/,
      );
      expect(limited.stats.rateLimited).toBe(1);
      expect(limited.stats.bulk).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect((await postForm(url, body)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('defaults to the documented 50 calls per minute', async () => {
    const standard = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT });
    try {
      const url = `${standard.url}/m2/${CLIENT}/v2/profile/batchUpdate`;
      const body = encodeBatch(['pcId', 'a'], [['v1', '1']]);
      for (let i = 0; i < 50; i += 1) expect((await postForm(url, body)).status).toBe(200);
      expect((await postForm(url, body)).status).toBe(503);
    } finally {
      await standard.close();
    }
  });
});
