import { describe, expect, it } from 'vitest';
import type { Simulator } from '../../../src/simulator/server.js';
import { CLIENT, simulatorsPerTest, encodeBatch, onSimulator, postForm, send, xmlField } from './helpers.js';

let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
// Batches complete at once and the clock is the test's: these tests count calls in its windows.
const start = simulatorsPerTest(() => ({ batchProcessingMs: 0, now: () => clock }));

const body = encodeBatch(['pcId', 'a'], [['v1', '1']]);
const submit = (sim: Simulator): Promise<{ status: number; text: string }> =>
  postForm(`${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`, body);
const postJson = (url: string, json: unknown) =>
  send(url, { method: 'POST', body: JSON.stringify(json), headers: { 'content-type': 'application/json' } });

/** Bulk submits admitted until the first 503. */
async function admittedSubmits(sim: Simulator, max = 60): Promise<number> {
  for (let n = 0; n < max; n += 1) {
    if ((await submit(sim)).status === 503) return n;
  }
  return max;
}

describe('the shared per-minute limit', () => {
  it('counts batch status calls on both paths with bulk submits, and sends no Retry-After', async () => {
    const sim = await start({ bulkCallsPerMinute: 4 });
    const accepted = await submit(sim);
    const link = onSimulator(sim.url, xmlField(accepted.text, 'batchStatus') ?? '');
    const batchId = new URL(link).searchParams.get('batchId') ?? '';
    expect((await send(link)).status).toBe(200);
    expect((await send(`${sim.url}/m2/${CLIENT}/v2/profile/batchStatus?batchId=${batchId}&m2Node=00`)).status).toBe(
      200,
    );
    // An unknown id still costs a call.
    expect((await send(`${sim.url}/m2/${CLIENT}/profile/batchStatus?batchId=nope`)).status).toBe(404);
    const refusedStatus = await send(link);
    expect(refusedStatus.status).toBe(503);
    expect(refusedStatus.headers['retry-after']).toBeUndefined();
    expect(xmlField(refusedStatus.text, 'message')).toMatch(
      /Limit of 4 calls per 60 s for the Admin, Reporting and bulk profile APIs together reached; next call admitted in 60000 ms/,
    );
    expect((await submit(sim)).status).toBe(503);
    expect(sim.stats.rateLimited).toBe(2);
    expect(sim.stats.statusCalls).toBe(3);
    clock += 60_000;
    expect((await send(link)).status).toBe(200);
  });

  it('leaves 50 calls a minute by default', async () => {
    const sim = await start();
    expect(await admittedSubmits(sim)).toBe(50);
  });

  it('lets other users of the account spend it, spread over the minute, until their time is up', async () => {
    const sim = await start();
    const set = await postJson(`${sim.url}/_simulator/faults`, {
      otherUsers: { callsPerMinute: 30, durationMs: 60_000 },
    });
    expect(set.status).toBe(200);
    clock += 30_000;
    // 15 of their calls fell in the last 30 s; ours fit beside them.
    for (let i = 0; i < 10; i += 1) expect((await submit(sim)).status).toBe(200);
    clock += 30_000;
    // In the last minute: 29 of theirs (the 30th falls at +60 s, when they stop) and our 10.
    expect(await admittedSubmits(sim)).toBe(11);
    expect(sim.stats.rateLimited).toBe(1);
    clock += 61_000;
    // They stopped; our calls from +60 s have left the window.
    expect(await admittedSubmits(sim)).toBe(50);
  });

  it('stops charging other users on restore', async () => {
    const sim = await start({ bulkCallsPerMinute: 10 });
    sim.faults.otherUsers({ callsPerMinute: 600 });
    clock += 1_000;
    expect(await admittedSubmits(sim)).toBe(0);
    sim.faults.restore();
    clock += 60_000;
    expect(await admittedSubmits(sim)).toBe(10);
  });
});
