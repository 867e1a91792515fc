import { afterEach, describe, expect, it } from 'vitest';
import { errors, request } from 'undici';
import { BatchQueue } from '../../../src/simulator/batches.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../../src/simulator/server.js';
import { ProfileStore } from '../../../src/simulator/store.js';
import { CLIENT, encodeBatch, onSimulator, postForm, send, waitForBatch, xmlField } from './helpers.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

const running: Simulator[] = [];
async function start(options: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, ...options });
  running.push(sim);
  return sim;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.close()));
});

async function submit(sim: Simulator, rows: string[][]): Promise<string> {
  const answer = await postForm(`${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`, encodeBatch(['pcId', 'a'], rows));
  const link = xmlField(answer.text, 'batchStatus');
  if (link === undefined) throw new Error(`not accepted: ${answer.text}`);
  return onSimulator(sim.url, link);
}

describe('batch status', () => {
  it('is incomplete with nothing applied until processed, then complete with details', async () => {
    const sim = await start({ batchProcessingMs: 300 });
    const link = await submit(sim, [
      ['v1', '1'],
      ['v2', '2'],
    ]);
    const early = await send(link);
    expect(xmlField(early.text, 'status')).toBe('incomplete');
    expect(xmlField(early.text, 'batchSize')).toBe('2');
    expect(early.text).not.toContain('consumedCount');
    expect(sim.store.size).toBe(0);

    const earlyDetails = await send(`${link}&showDetails=true`);
    expect(xmlField(earlyDetails.text, 'consumedCount')).toBe('0');

    const done = await waitForBatch(link);
    expect(xmlField(done, 'status')).toBe('complete');
    expect(xmlField(done, 'batchId')).toBe(new URL(link).searchParams.get('batchId'));
    expect(xmlField(done, 'consumedCount')).toBe('2');
    expect(xmlField(done, 'successfulUpdates')).toBe('2');
    expect(xmlField(done, 'profilesNotFound')).toBe('0');
    expect(xmlField(done, 'failedUpdates')).toBe('0');
    expect(sim.store.get('pcId', 'v2')).toEqual({ a: '2' });
    expect(sim.stats.status).toBeGreaterThanOrEqual(3);
  });

  it('keeps every status, however many, for 24 hours after submit and forgets it a millisecond later', async () => {
    let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
    const sim = await start({ now: () => clock, batchProcessingMs: 0 });
    const links: string[] = [];
    for (let i = 0; i < 12; i += 1) links.push(await submit(sim, [[`v${i}`, String(i)]]));
    for (const link of links) expect((await send(link)).status).toBe(200);
    clock += 24 * 3600_000;
    const kept = await send(links[0] ?? '');
    expect(kept.status).toBe(200);
    expect(xmlField(kept.text, 'status')).toBe('complete');
    clock += 1;
    const forgotten = await send(links[0] ?? '');
    expect(forgotten.status).toBe(404);
    expect(xmlField(forgotten.text, 'success')).toBe('false');
    expect(xmlField(forgotten.text, 'message')).toMatch(/unknown or its status is no longer kept/);
    expect((await send(`${sim.url}/m2/${CLIENT}/profile/batchStatus?batchId=never`)).status).toBe(404);
    expect((await send(`${sim.url}/m2/${CLIENT}/profile/batchStatus`)).status).toBe(400);
  });

  it('keeps statuses for statusRetentionMs when set; a forgotten batch still lands', async () => {
    let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
    const sim = await start({ now: () => clock, batchProcessingMs: 5_000, statusRetentionMs: 1_000 });
    const link = await submit(sim, [['r1', 'x']]);
    clock += 1_001;
    expect((await send(link)).status).toBe(404);
    expect(sim.store.get('pcId', 'r1')).toBeUndefined();
    clock += 4_000;
    expect(sim.store.get('pcId', 'r1')).toEqual({ a: 'x' });
  });

  it('stays incomplete for 2 s by default, judged by the clock, and lands rows only then', async () => {
    let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
    const sim = await start({ now: () => clock });
    const link = await submit(sim, [['c1', '1']]);
    clock += 1_999;
    expect(xmlField((await send(link)).text, 'status')).toBe('incomplete');
    expect((await send(`${sim.url}/rest/v1/profiles/c1?client=${CLIENT}`)).status).toBe(404);
    clock += 1;
    // The fetch checks the clock too: the batch completes without a status call.
    expect((await send(`${sim.url}/rest/v1/profiles/c1?client=${CLIENT}`)).status).toBe(200);
    expect(xmlField((await send(link)).text, 'status')).toBe('complete');
  });

  it('completes batches out of order with jitter and lands rows in completion order', async () => {
    let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
    const draws = [0.9, 0.1];
    const sim = await start({
      now: () => clock,
      batchProcessingMs: 1_000,
      batchProcessingJitterMs: 1_000,
      random: () => draws.shift() ?? 0,
    });
    const first = await submit(sim, [['j1', 'first']]);
    const second = await submit(sim, [['j1', 'second']]);
    clock += 1_500;
    expect(xmlField((await send(first)).text, 'status')).toBe('incomplete');
    expect(xmlField((await send(second)).text, 'status')).toBe('complete');
    expect(sim.store.get('pcId', 'j1')).toEqual({ a: 'second' });
    clock += 500;
    expect(xmlField((await send(first)).text, 'status')).toBe('complete');
    expect(sim.store.get('pcId', 'j1')).toEqual({ a: 'first' });
  });

  it('takes 10 minutes per batch after a slowBatches fault set over HTTP, until restore', async () => {
    let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
    const sim = await start({ now: () => clock, batchProcessingMs: 0 });
    const set = await send(`${sim.url}/_simulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ slowBatches: { batchProcessingMs: 600_000 } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(set.status).toBe(200);
    const slow = await submit(sim, [['s1', '1']]);
    clock += 599_999;
    expect(xmlField((await send(slow)).text, 'status')).toBe('incomplete');
    expect(sim.batches.pending).toBe(1);
    clock += 1;
    expect(xmlField((await send(slow)).text, 'status')).toBe('complete');
    sim.faults.restore();
    const quick = await submit(sim, [['s2', '1']]);
    expect(xmlField((await send(quick)).text, 'status')).toBe('complete');
  });

  it('lands a batch on the real clock without any call', async () => {
    const sim = await start({ batchProcessingMs: 100 });
    const landed: string[] = [];
    sim.store.onWrite((write) => landed.push(write.id));
    await submit(sim, [['t1', '1']]);
    expect(landed).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(landed).toEqual(['t1']);
  });

  it('reports a batch made stuck by the fault injector and never applies it', async () => {
    const sim = await start({ batchProcessingMs: 0 });
    sim.faults.stickNextBatches(1);
    const stuck = await submit(sim, [['s1', 'x']]);
    const normal = await submit(sim, [['n1', 'y']]);
    expect(xmlField(await waitForBatch(stuck), 'status')).toBe('stuck');
    expect(xmlField(await waitForBatch(normal), 'status')).toBe('complete');
    expect(sim.store.get('pcId', 's1')).toBeUndefined();
    expect(sim.store.get('pcId', 'n1')).toEqual({ a: 'y' });
  });

  it('takes and processes a batch whose answer it sends late, whether or not the client still waits', async () => {
    const sim = await start({ batchProcessingMs: 0 });
    // Set through the control API, as a test of another process would.
    const set = await send(`${sim.url}/_simulator/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ answerBatchesLate: { count: 1, answerAfterMs: 2000, batchProcessingMs: 300 } }),
    });
    expect(set.status).toBe(200);
    expect(sim.faults.describeAccount().lateBatchAnswers).toBe(1);
    // The client gives up after 200 ms: its answer is lost, the batch is not.
    const gaveUp = await request(`${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`, {
      method: 'POST',
      body: encodeBatch(['pcId', 'a'], [['late', '1']]),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      headersTimeout: 200,
    }).catch((error: unknown) => error);
    expect(gaveUp).toBeInstanceOf(errors.HeadersTimeoutError);
    expect(sim.stats.bulk).toBe(1);
    // Processed in its 300 ms, long before its answer is sent.
    await new Promise((resolve) => setTimeout(resolve, 400));
    sim.batches.settle();
    expect(sim.store.get('pcId', 'late')).toEqual({ a: '1' });
    expect(sim.batches.pending).toBe(0);
    // One late answer only: the next submit is answered at once.
    const started = Date.now();
    await submit(sim, [['next', '2']]);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('requires the bearer token when authentication is on', async () => {
    const sim = await start({ authToken: 'secret', batchProcessingMs: 0 });
    const answer = await postForm(
      `${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`,
      encodeBatch(['pcId', 'a'], [['v1', '1']]),
      {
        authorization: 'Bearer secret',
      },
    );
    const link = onSimulator(sim.url, xmlField(answer.text, 'batchStatus') ?? '');
    expect((await send(link)).status).toBe(401);
    expect((await send(link, { headers: { authorization: 'Bearer secret' } })).status).toBe(200);
    expect((await postForm(`${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`, 'batch=pcId%2Ca')).status).toBe(401);
  });
});

describe('the batch status cap', () => {
  it('drops the oldest statuses past the cap (a memory guard, not Target behaviour)', () => {
    const queue = new BatchQueue(new ProfileStore(), { clientCode: CLIENT, maxValueLength: 256, maxStatuses: 3 });
    const ids = [1, 2, 3, 4].map((i) =>
      queue.submit({ kind: 'pcId', columns: ['a'], rows: [{ id: `q${i}`, values: ['1'] }] }),
    );
    expect(ids.map((id) => queue.status(id)?.status)).toEqual([undefined, 'complete', 'complete', 'complete']);
    queue.close();
  });
});
