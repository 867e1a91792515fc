import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import { CLIENT, encodeBatch, onSimulator, postForm, send, waitForBatch, xmlField } from './helpers.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

const running: Simulator[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.close()));
});

const postJson = (url: string, json: unknown) =>
  send(url, { method: 'POST', body: JSON.stringify(json), headers: { 'content-type': 'application/json' } });

describe('GET /_simulator/stats', () => {
  it('counts v1 submits, status calls, admin calls, other users, override removals and failed rows; reset zeroes them', async () => {
    let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
    const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, batchProcessingMs: 0, now: () => clock });
    running.push(sim);
    const submit = async (path: string, rows: string[][], header = ['thirdPartyId', 'a', 'b']): Promise<string> => {
      const answer = await postForm(`${sim.url}/m2/${CLIENT}/${path}`, encodeBatch(header, rows));
      return waitForBatch(onSimulator(sim.url, xmlField(answer.text, 'batchStatus') ?? ''));
    };
    await submit('v2/profile/batchUpdate', [['CRM-1', '1', '2']]);
    sim.faults.rejectVisitor('CRM-NO');
    await submit('v2/profile/batchUpdate', [
      ['CRM-1', '3', ''],
      ['CRM-NO', '1', '1'],
    ]);
    await submit('profile/batchUpdate', [['CRM-1', '4', '']]);
    const ims = JSON.parse(
      (
        await send(`${sim.url}/ims/token/v3`, {
          method: 'POST',
          body: 'client_id=target-ingest-simulator&client_secret=simulator-client-secret&grant_type=client_credentials&scope=openid',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        })
      ).text,
    ) as { access_token: string };
    await send(`${sim.url}/${CLIENT}/target/authentication/token?authorizationScope=profile_api`, {
      headers: { authorization: `Bearer ${ims.access_token}`, 'x-api-key': 'target-ingest-simulator' },
    });
    await postJson(`${sim.url}/_simulator/faults`, {
      otherUsers: { callsPerMinute: 60 },
      slowBatches: { batchProcessingMs: 600_000 },
    });
    clock += 10_000;
    expect(
      (await postForm(`${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`, encodeBatch(['pcId', 'a'], [['p', '1']])))
        .status,
    ).toBe(200);

    const stats = JSON.parse((await send(`${sim.url}/_simulator/stats`)).text) as Record<string, unknown>;
    expect(stats).toMatchObject({
      bulk: 3,
      bulkV1: 1,
      admin: 1,
      ims: 1,
      otherUsersCharged: 10,
      overrideRemovals: 1,
      failedRows: 1,
      pendingBatches: 1,
      profiles: 1,
    });
    expect(stats.statusCalls).toBe(3);
    const faults = JSON.parse((await send(`${sim.url}/_simulator/faults`)).text) as {
      account: Record<string, unknown>;
    };
    expect(faults.account).toMatchObject({
      rejectVisitors: 1,
      slowBatches: { batchProcessingMs: 600_000, batchProcessingJitterMs: 0 },
      otherUsers: { callsPerMinute: 60 },
    });

    await send(`${sim.url}/_simulator/reset`, { method: 'POST' });
    const zeroed = JSON.parse((await send(`${sim.url}/_simulator/stats`)).text) as Record<string, unknown>;
    expect(zeroed).toMatchObject({
      bulkV1: 0,
      statusCalls: 0,
      admin: 0,
      otherUsersCharged: 0,
      overrideRemovals: 0,
      failedRows: 0,
    });
  });
});
