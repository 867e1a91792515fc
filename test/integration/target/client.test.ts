import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CredentialsRefusedError,
  PipelineError,
  TargetRejectedError,
  TargetUnavailableError,
} from '../../../src/errors.js';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import { buildBulkFiles } from '../../harness/bulk-files.js';
import { StatusLinkRefusedError, TargetClient } from '../../../src/target/client.js';
import {
  PROFILE_DATA_LIMIT_BYTES,
  SINGLE_GET_LIMIT_BYTES,
  SINGLE_POST_LIMIT_BYTES,
  planSingleUpdate,
  profileDataBytes,
} from '../../../src/target/single-request.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

const visitor = { kind: 'thirdPartyId' as const, id: 'CRM-LIMIT' };

/** Attributes that make the GET request target exactly `bytes` long (ASCII values, ≤ 250 chars each). */
function attrsForGetLength(bytes: number): Map<string, string> {
  const attrs = new Map<string, string>();
  const length = (): number => Buffer.byteLength(planSingleUpdate('acme', visitor, attrs)[0]?.pathAndQuery ?? '');
  for (let i = 0; length() < bytes - 300; i += 1) attrs.set(`a${i}`, 'x'.repeat(250));
  // One last attribute takes up the difference exactly.
  attrs.set('last', '');
  attrs.set('last', 'y'.repeat(bytes - length()));
  return attrs;
}

/** Attributes whose one-request POST body is exactly `bytes` long (ASCII values, ≤ 256 chars each). */
function attrsForPostBody(id: string, bytes: number): Map<string, string> {
  const attrs = new Map<string, string>();
  let length = `mbox3rdPartyId=${id}`.length;
  for (let i = 0; bytes - length > 530; i += 1) {
    attrs.set(`a${i}`, 'x'.repeat(250));
    length += `&profile.a${i}=`.length + 250;
  }
  const rest = bytes - length - 2 * '&profile.p='.length;
  attrs.set('p', 'p'.repeat(Math.floor(rest / 2)));
  attrs.set('q', 'q'.repeat(rest - Math.floor(rest / 2)));
  return attrs;
}

/** Attributes of exactly `bytes` bytes of profile data (names + values, UTF-8), values ≤ 256 characters. */
function attrsOfProfileBytes(bytes: number): Map<string, string> {
  const attrs = new Map<string, string>();
  let left = bytes;
  for (let i = 0; left > 1900; i += 1) {
    const name = `n${String(i).padStart(2, '0')}`;
    attrs.set(name, '🚀'.repeat(256));
    left -= name.length + 1024;
  }
  // Two last values (names 'y1', 'y2') share the rest, so neither passes 256 characters.
  const fill = (n: number): string => `${'🚀'.repeat(Math.floor(n / 4))}${'x'.repeat(n % 4)}`;
  const rest = left - 4;
  attrs.set('y1', fill(Math.floor(rest / 2)));
  attrs.set('y2', fill(rest - Math.floor(rest / 2)));
  return attrs;
}

describe('TargetClient against the simulator', () => {
  let sim: Simulator;
  let client: TargetClient;

  beforeAll(async () => {
    sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme', authToken: 'profile-token-0123456789' });
    client = new TargetClient({
      baseUrl: sim.url,
      clientCode: 'acme',
      authToken: 'profile-token-0123456789',
      timeoutMs: 2000,
    });
  });
  afterAll(async () => {
    await client.close();
    await sim.close();
  });

  it('uses GET up to exactly 8 KB and POST one byte past it; both land', async () => {
    const atLimit = attrsForGetLength(SINGLE_GET_LIMIT_BYTES);
    const [getPlan] = planSingleUpdate('acme', visitor, atLimit);
    expect(getPlan?.method).toBe('GET');
    expect(Buffer.byteLength(getPlan?.pathAndQuery ?? '')).toBe(SINGLE_GET_LIMIT_BYTES);
    sim.stats.reset();
    expect(await client.updateSingle(visitor, atLimit)).toBe(1);
    expect(sim.stats.requests.at(-1)?.method).toBe('GET');

    const past = attrsForGetLength(SINGLE_GET_LIMIT_BYTES + 1);
    expect(planSingleUpdate('acme', visitor, past)[0]?.method).toBe('POST');
    expect(await client.updateSingle(visitor, past)).toBe(1);
    expect(sim.stats.requests.at(-1)?.method).toBe('POST');
    const profile = sim.store.get('thirdPartyId', 'CRM-LIMIT');
    for (const [name, value] of past) expect(profile?.[name]).toBe(value);
  });

  it('splits an update larger than one 60 KB POST into several; every attribute lands', async () => {
    // 100 values of 200 'é': 40 KB stored (under the 64 KB profile limit), 120 KB encoded.
    const attrs = new Map(
      Array.from({ length: 100 }, (_, i) => [`big${i}`, `${i}:${'é'.repeat(200)}`] as [string, string]),
    );
    sim.stats.reset();
    const calls = await client.updateSingle({ kind: 'pcId', id: '999-1.01_00' }, attrs);
    expect(calls).toBeGreaterThan(1);
    expect(sim.stats.byStatus[200]).toBe(calls);
    const profile = sim.store.get('pcId', '999-1.01_00');
    expect(Object.keys(profile ?? {}).filter((k) => k.startsWith('big'))).toHaveLength(100);
    expect(profile?.big99).toBe(`99:${'é'.repeat(200)}`);
  });

  it('sends a POST of exactly 60 KB as one call and splits one byte more into two; all lands', async () => {
    const atLimit = attrsForPostBody('CRM-POST-1', SINGLE_POST_LIMIT_BYTES);
    const [plan] = planSingleUpdate('acme', { kind: 'thirdPartyId', id: 'CRM-POST-1' }, atLimit);
    expect(Buffer.byteLength(plan?.body ?? '')).toBe(61_440);
    sim.stats.reset();
    expect(await client.updateSingle({ kind: 'thirdPartyId', id: 'CRM-POST-1' }, atLimit)).toBe(1);
    expect(sim.stats.requests.map((r) => [r.method, r.status])).toEqual([['POST', 200]]);
    expect(sim.store.get('thirdPartyId', 'CRM-POST-1')).toEqual(Object.fromEntries(atLimit));

    const past = attrsForPostBody('CRM-POST-2', SINGLE_POST_LIMIT_BYTES + 1);
    sim.stats.reset();
    expect(await client.updateSingle({ kind: 'thirdPartyId', id: 'CRM-POST-2' }, past)).toBe(2);
    expect(sim.stats.requests.map((r) => [r.method, r.status])).toEqual([
      ['POST', 200],
      ['POST', 200],
    ]);
    expect(sim.store.get('thirdPartyId', 'CRM-POST-2')).toEqual(Object.fromEntries(past));
  });

  it('refuses, before sending anything, an attribute that no 60 KB POST can carry', async () => {
    sim.stats.reset();
    const huge = new Map([
      ['ok', '1'],
      ['huge', 'h'.repeat(SINGLE_POST_LIMIT_BYTES)],
    ]);
    const error = await client.updateSingle({ kind: 'thirdPartyId', id: 'CRM-HUGE' }, huge).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PipelineError);
    expect(error).toMatchObject({ code: 'SINGLE_REQUEST_TOO_LARGE', kind: 'permanent' });
    expect((error as Error).message).toMatch(/"huge" needs a 6\d{4}-byte POST, over the 61440-byte limit/);
    expect(sim.stats.requests).toEqual([]);
    expect(sim.store.get('thirdPartyId', 'CRM-HUGE')).toBeUndefined();
  });

  it('delivers exactly 64 KB of profile data and refuses one byte more without a call', async () => {
    const exact = attrsOfProfileBytes(PROFILE_DATA_LIMIT_BYTES);
    expect(profileDataBytes(exact)).toBe(65_536);
    const calls = await client.updateSingle({ kind: 'pcId', id: 'full-64k.01_00' }, exact);
    expect(calls).toBeGreaterThan(1);
    expect(sim.store.get('pcId', 'full-64k.01_00')).toEqual(Object.fromEntries(exact));

    const past = attrsOfProfileBytes(PROFILE_DATA_LIMIT_BYTES + 1);
    expect(profileDataBytes(past)).toBe(65_537);
    sim.stats.reset();
    const error = await client.updateSingle({ kind: 'pcId', id: 'over-64k.01_00' }, past).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PROFILE_TOO_LARGE', kind: 'permanent' });
    expect(sim.stats.requests).toEqual([]);
    expect(sim.store.get('pcId', 'over-64k.01_00')).toBeUndefined();
  });

  it("classifies answers: 401 credentials refused (held, never the data's fault), 503 transient with Retry-After, dropped connection transient", async () => {
    const noToken = new TargetClient({ baseUrl: sim.url, clientCode: 'acme', timeoutMs: 2000 });
    const refused = await noToken.updateSingle(visitor, new Map([['a', '1']])).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CredentialsRefusedError);
    expect(refused).toMatchObject({ code: 'TARGET_CREDENTIALS_REFUSED', details: { status: 401 } });
    await noToken.close();
    // A token that changes while the process runs is read before every call.
    let current = 'wrong-token';
    const rotating = new TargetClient({
      baseUrl: sim.url,
      clientCode: 'acme',
      timeoutMs: 2000,
      token: { current: () => current },
    });
    await expect(rotating.updateSingle(visitor, new Map([['a', '1']]))).rejects.toBeInstanceOf(CredentialsRefusedError);
    current = 'profile-token-0123456789';
    expect(await rotating.updateSingle(visitor, new Map([['a', '1']]))).toBe(1);
    await rotating.close();

    sim.faults.failNext(1, 503, { retryAfterSeconds: 7 });
    const unavailable = await client.updateSingle(visitor, new Map([['a', '1']])).catch((e: unknown) => e);
    expect(unavailable).toBeInstanceOf(TargetUnavailableError);
    expect((unavailable as TargetUnavailableError).details).toMatchObject({ status: 503, retryAfterMs: 7000 });

    sim.faults.dropConnections(1);
    const dropped = await client.updateSingle(visitor, new Map([['a', '1']])).catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(TargetUnavailableError);
    expect((dropped as TargetUnavailableError).code).toMatch(/^UND_ERR_|^ECONNRESET$/);
    sim.faults.restore();
  });

  it('submits a bulk file, polls its status to complete, and reads the profile back', async () => {
    const [file] = buildBulkFiles([
      { visitor: { kind: 'thirdPartyId', id: 'CRM-BULK' }, values: new Map([['tier', 'gold & 100 + = é']]) },
    ]);
    const statusUrl = await client.submitBulk(file?.body ?? '');
    // The link names Target's edge host over http, as documented; the client reads it at the simulator.
    expect(statusUrl).toMatch(/^http:\/\/mboxedge\d+\.tt\.omtrdc\.net\/m2\/acme\/profile\/batchStatus\?batchId=/);
    let status = await client.batchStatus(statusUrl);
    expect(status.status).toBe('incomplete');
    // Status polls count against the 50 calls a minute: poll as the pipeline would.
    for (let i = 0; i < 20 && status.status !== 'complete'; i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      status = await client.batchStatus(statusUrl);
    }
    expect(status).toMatchObject({ status: 'complete', batchSize: 1, successfulUpdates: 1, failedUpdates: 0 });
    const fetched = await client.fetchProfile({ kind: 'thirdPartyId', id: 'CRM-BULK' });
    expect(fetched?.tier?.value).toBe('gold & 100 + = é');
    expect(await client.fetchProfile({ kind: 'thirdPartyId', id: 'nobody' })).toBeUndefined();
  });

  it("treats a 200 with success=false as a permanent rejection with Target's message", async () => {
    const error = await client.submitBulk('batch=thirdPartyId,a%0Aid,100%').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetRejectedError);
    expect((error as TargetRejectedError).message).toMatch(/Target rejected the batch: /);
  });

  it('never sends the token to a status URL on a foreign host', async () => {
    const before = sim.stats.requests.length;
    const error = await client
      .batchStatus('https://attacker.example/m2/acme/profile/batchStatus?batchId=1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StatusLinkRefusedError);
    expect((error as Error).message).toMatch(/host outside tt\.omtrdc\.net \(attacker\.example\)/);
    // Held, not refused as data: the status job keeps the batch and polls again.
    expect((error as StatusLinkRefusedError).kind).toBe('transient');
    expect(sim.stats.requests.length).toBe(before);
  });
});
