import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../../src/simulator/server.js';
import { CLIENT, encodeBatch, onSimulator, postForm, send, waitForBatch, xmlField } from './helpers.js';

const running: Simulator[] = [];
async function start(options: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const sim = await startSimulator({ clientCode: CLIENT, ...options });
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
    const link = await submit(sim, [['v1', '1'], ['v2', '2']]);
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

  it('keeps only the last 10 statuses; older and unknown ids get 404', async () => {
    const sim = await start();
    const links: string[] = [];
    for (let i = 0; i < 11; i += 1) links.push(await submit(sim, [[`v${i}`, String(i)]]));
    const oldest = await send(links[0] ?? '');
    expect(oldest.status).toBe(404);
    expect(xmlField(oldest.text, 'message')).toMatch(/last 10 statuses/);
    expect((await send(links[1] ?? '')).status).toBe(200);
    expect((await send(links[10] ?? '')).status).toBe(200);
    expect((await send(`${sim.url}/m2/${CLIENT}/profile/batchStatus?batchId=never`)).status).toBe(404);
    expect((await send(`${sim.url}/m2/${CLIENT}/profile/batchStatus`)).status).toBe(400);
    // The forgotten batch was still applied.
    await waitForBatch(links[10] ?? '');
    expect(sim.store.get('pcId', 'v0')).toEqual({ a: '0' });
  });

  it('keeps a status for exactly 24 hours and forgets it a millisecond later', async () => {
    let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
    const sim = await start({ now: () => clock });
    const link = await submit(sim, [['d1', '1']]);
    await waitForBatch(link);
    clock += 24 * 3600_000;
    const kept = await send(link);
    expect(kept.status).toBe(200);
    expect(xmlField(kept.text, 'status')).toBe('complete');
    clock += 1;
    const forgotten = await send(link);
    expect(forgotten.status).toBe(404);
    expect(xmlField(forgotten.text, 'message')).toMatch(/for 24 hours/);
  });

  it('reports a batch made stuck by the fault injector and never applies it', async () => {
    const sim = await start();
    sim.faults.stickNextBatches(1);
    const stuck = await submit(sim, [['s1', 'x']]);
    const normal = await submit(sim, [['n1', 'y']]);
    expect(xmlField(await waitForBatch(stuck), 'status')).toBe('stuck');
    expect(xmlField(await waitForBatch(normal), 'status')).toBe('complete');
    expect(sim.store.get('pcId', 's1')).toBeUndefined();
    expect(sim.store.get('pcId', 'n1')).toEqual({ a: 'y' });
  });

  it('requires the bearer token when authentication is on', async () => {
    const sim = await start({ authToken: 'secret' });
    const answer = await postForm(`${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`, encodeBatch(['pcId', 'a'], [['v1', '1']]), {
      authorization: 'Bearer secret',
    });
    const link = onSimulator(sim.url, xmlField(answer.text, 'batchStatus') ?? '');
    expect((await send(link)).status).toBe(401);
    expect((await send(link, { headers: { authorization: 'Bearer secret' } })).status).toBe(200);
    expect((await postForm(`${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`, 'batch=pcId%2Ca')).status).toBe(401);
  });
});
