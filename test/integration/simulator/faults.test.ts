import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { errors } from 'undici';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import { CLIENT, encodeBatch, onSimulator, postForm, send, xmlField } from './helpers.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

const postJson = (url: string, json: unknown) =>
  send(url, { method: 'POST', body: JSON.stringify(json), headers: { 'content-type': 'application/json' } });

/** Random numbers a test chooses, in order. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}

let sim: Simulator;
const single = (id: string): string => `${sim.url}/m2/${CLIENT}/profile/update?mboxPC=${id}&profile.a=1`;
const bulk = (): string => `${sim.url}/m2/${CLIENT}/v2/profile/batchUpdate`;
const body = encodeBatch(['pcId', 'a'], [['b1', '1']]);

beforeAll(async () => {
  sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, batchProcessingMs: 0 });
});
afterAll(async () => {
  await sim.close();
});
afterEach(() => {
  sim.faults.restore();
  sim.store.clear();
  sim.stats.reset();
});

describe('fault injection', () => {
  it('an outage fails single, bulk and status calls until restore, but not fetch', async () => {
    const accepted = await postForm(bulk(), body);
    const link = onSimulator(sim.url, xmlField(accepted.text, 'batchStatus') ?? '');
    sim.faults.outage(503, { retryAfterSeconds: 7 });
    for (const answer of [await send(single('o1')), await postForm(bulk(), body), await send(link)]) {
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('7');
      expect(xmlField(answer.text, 'success')).toBe('false');
    }
    expect(sim.store.get('pcId', 'o1')).toBeUndefined();
    expect((await send(`${sim.url}/rest/v1/profiles/b1?client=${CLIENT}`)).status).toBe(200);
    sim.faults.restore();
    expect((await send(single('o1'))).status).toBe(200);
    expect(sim.store.get('pcId', 'o1')).toEqual({ a: '1' });
  });

  it('outage() defaults to 503 without Retry-After', async () => {
    sim.faults.outage();
    const answer = await send(single('o2'));
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBeUndefined();
  });

  it('failNext fails exactly n calls with the given status and Retry-After', async () => {
    sim.faults.failNext(2, 502, { retryAfterSeconds: 3 });
    const first = await send(single('f1'));
    const second = await postForm(bulk(), body);
    const third = await send(single('f1'));
    expect([first.status, second.status, third.status]).toEqual([502, 502, 200]);
    expect(first.headers['retry-after']).toBe('3');
    expect(second.headers['retry-after']).toBe('3');
    expect(third.headers['retry-after']).toBeUndefined();
    expect(sim.stats.byStatus).toEqual({ 502: 2, 200: 1 });
    expect(sim.stats.single).toBe(1);
    expect(sim.stats.bulk).toBe(0);
  });

  it('dropConnections closes the socket without an answer', async () => {
    sim.faults.dropConnections(1);
    const failure = await send(single('d1')).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(errors.SocketError);
    expect((failure as errors.SocketError).code).toBe('UND_ERR_SOCKET');
    expect(sim.store.get('pcId', 'd1')).toBeUndefined();
    expect(sim.stats.dropped).toBe(1);
    expect(sim.stats.requests.at(-1)).toMatchObject({ path: `/m2/${CLIENT}/profile/update`, status: 0 });
    expect((await send(single('d1'))).status).toBe(200);
  });

  it('dropConnections also drops a bulk upload', async () => {
    sim.faults.dropConnections(1);
    await expect(postForm(bulk(), body)).rejects.toThrow();
    expect(sim.stats.bulk).toBe(0);
  });

  it('setLatency delays profile calls until restore', async () => {
    sim.faults.setLatency(250);
    const started = Date.now();
    expect((await send(single('l1'))).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    sim.faults.restore();
    const again = Date.now();
    await send(single('l1'));
    expect(Date.now() - again).toBeLessThan(200);
  });

  it('stats record each request without its query and reset to zero', async () => {
    await send(single('s1'));
    await send(`${sim.url}/m2/other/profile/update?mboxPC=x`);
    expect(sim.stats.single).toBe(1);
    expect(sim.stats.byStatus).toEqual({ 200: 1, 400: 1 });
    expect(sim.stats.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['GET', `/m2/${CLIENT}/profile/update`, 200],
      ['GET', '/m2/other/profile/update', 400],
    ]);
    sim.stats.reset();
    expect(sim.stats.single).toBe(0);
    expect(sim.stats.requests).toEqual([]);
  });
});

describe('start options', () => {
  it('latencyMs delays every profile call', async () => {
    const slow = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, latencyMs: 150 });
    try {
      const started = Date.now();
      await send(`${slow.url}/m2/${CLIENT}/profile/update?mboxPC=x&profile.a=1`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    } finally {
      await slow.close();
    }
  });
});

describe('faults per endpoint', () => {
  const status = async (): Promise<string> =>
    onSimulator(sim.url, xmlField((await postForm(bulk(), body)).text, 'batchStatus') ?? '');
  const fetchUrl = (): string => `${sim.url}/rest/v1/profiles/b1?client=${CLIENT}`;

  it('an outage aimed at one endpoint fails only that endpoint', async () => {
    const link = await status();
    sim.faults.outage(502, { endpoint: 'bulk', retryAfterSeconds: 4 });
    const refused = await postForm(bulk(), body);
    expect(refused.status).toBe(502);
    expect(refused.headers['retry-after']).toBe('4');
    expect((await send(single('p1'))).status).toBe(200);
    expect((await send(link)).status).toBe(200);
    expect((await send(fetchUrl())).status).toBe(200);
    sim.faults.clearOutages('bulk');
    expect((await postForm(bulk(), body)).status).toBe(200);
  });

  it('faults aimed at fetch apply to it (answered as JSON); global ones never do', async () => {
    await send(single('b1'));
    sim.faults.outage(503);
    expect((await send(fetchUrl())).status).toBe(200);
    sim.faults.restore();
    sim.faults.outage(503, { endpoint: 'fetch' });
    const down = await send(fetchUrl());
    expect(down.status).toBe(503);
    expect(JSON.parse(down.text)).toEqual({ message: 'Simulated failure (HTTP 503)' });
    expect((await send(single('b1'))).status).toBe(200);
  });

  it('failNext aimed at the status endpoint leaves single and bulk calls alone', async () => {
    const link = await status();
    sim.faults.failNext(1, 500, { endpoint: 'status' });
    expect((await send(single('p2'))).status).toBe(200);
    expect((await send(link)).status).toBe(500);
    expect((await send(link)).status).toBe(200);
  });

  it('an endpoint error rate replaces the global one there and picks among its codes', async () => {
    sim.faults.errorRate(1, 500);
    // single: fails on draws below 0.5, then the second draw picks the code (0.1 → 502, 0.9 → 504).
    sim.faults.errorRate(0.5, [502, 504], { endpoint: 'single', random: sequence(0, 0.1, 0.9, 0, 0.9) });
    const answers = [await send(single('r1')), await send(single('r1')), await send(single('r1'))];
    expect(answers.map((a) => a.status)).toEqual([502, 200, 504]);
    // bulk still follows the global rate.
    expect((await postForm(bulk(), body)).status).toBe(500);
  });

  it('endpoint latency replaces the global latency for that endpoint', async () => {
    sim.faults.setLatency(300);
    sim.faults.setLatency(0, 'single');
    sim.faults.setLatency(200, 'fetch');
    const timed = async (call: () => Promise<unknown>): Promise<number> => {
      const started = Date.now();
      await call();
      return Date.now() - started;
    };
    expect(await timed(() => send(single('l2')))).toBeLessThan(150);
    expect(await timed(() => postForm(bulk(), body))).toBeGreaterThanOrEqual(290);
    expect(await timed(() => send(fetchUrl()))).toBeGreaterThanOrEqual(190);
    expect(sim.faults.latencyFor('status')).toBe(300);
    sim.faults.restore();
    expect(sim.faults.latencyFor('bulk')).toBe(0);
  });
});

describe('timed outage windows', () => {
  let clock = Date.UTC(2026, 10, 21, 10, 0, 0);
  let timed: Simulator;
  beforeAll(async () => {
    timed = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, now: () => clock });
  });
  afterAll(async () => {
    await timed.close();
  });
  afterEach(() => {
    timed.faults.restore();
  });
  const call = async (): Promise<number> =>
    (await send(`${timed.url}/m2/${CLIENT}/profile/update?mboxPC=w&profile.a=1`)).status;

  it('fail calls from start until end (excluded) and end by themselves', async () => {
    const t0 = clock;
    timed.faults.outageWindow({ endpoint: 'single', from: t0 + 1000, durationMs: 1000, status: 502 });
    expect(await call()).toBe(200);
    clock = t0 + 1000;
    expect(await call()).toBe(502);
    clock = t0 + 1999;
    expect(await call()).toBe(502);
    clock = t0 + 2000;
    expect(await call()).toBe(200);
    expect(timed.faults.describe().single?.outageWindows).toEqual([]);
  });

  it('refuse a window that ends before it starts', () => {
    expect(() => timed.faults.outageWindow({ from: clock, until: clock })).toThrow(RangeError);
    expect(() => timed.faults.outageWindow({ from: clock })).toThrow(/until|durationMs/);
  });

  it('are set through the admin route, absolute (ISO) or relative to now, global or per endpoint', async () => {
    const t0 = clock;
    const set = await postJson(`${timed.url}/_simulator/faults`, {
      outageWindows: [{ startInMs: 5000, durationMs: 1000, status: 504 }],
      endpoints: {
        bulk: {
          outageWindows: [{ start: new Date(t0).toISOString(), end: new Date(t0 + 500).toISOString() }],
          retryAfterSeconds: 2,
        },
        fetch: { errorRate: { probability: 1, statuses: [502] } },
      },
    });
    expect(set.status).toBe(200);
    const shown = JSON.parse((await send(`${timed.url}/_simulator/faults`)).text) as Record<
      string,
      { outageWindows: Array<{ status: number; from: string; until: string; active: boolean }> }
    >;
    expect(shown.all?.outageWindows).toEqual([
      { status: 504, from: new Date(t0 + 5000).toISOString(), until: new Date(t0 + 6000).toISOString(), active: false },
    ]);
    expect(shown.bulk?.outageWindows).toMatchObject([{ status: 503, active: true, retryAfterSeconds: 2 }]);

    const bulkAnswer = await postForm(`${timed.url}/m2/${CLIENT}/v2/profile/batchUpdate`, body);
    expect(bulkAnswer.status).toBe(503);
    expect(bulkAnswer.headers['retry-after']).toBe('2');
    expect(await call()).toBe(200);
    expect((await send(`${timed.url}/rest/v1/profiles/w?client=${CLIENT}`)).status).toBe(502);
    clock = t0 + 5000;
    expect(await call()).toBe(504);
    expect((await postForm(`${timed.url}/m2/${CLIENT}/v2/profile/batchUpdate`, body)).status).toBe(504);
    clock = t0 + 6000;
    expect(await call()).toBe(200);
  });

  it('the admin route names every problem of a bad window and clears an endpoint with outage: null', async () => {
    const bad = await postJson(`${timed.url}/_simulator/faults`, {
      endpoints: { single: { outageWindows: [{ durationMs: 10, end: 'soon' }] }, nowhere: {} },
    });
    expect(bad.status).toBe(400);
    const problems = (JSON.parse(bad.text) as { error: string[] }).error.join('\n');
    expect(problems).toMatch(/endpoints\.single\.outageWindows\.0\.end: expected an ISO 8601 date/);
    expect(problems).toMatch(/nowhere/);
    const backwards = await postJson(`${timed.url}/_simulator/faults`, {
      outageWindows: [{ start: clock, end: clock - 1 }],
    });
    expect(backwards.status).toBe(400);
    expect(backwards.text).toMatch(/end after it starts/);

    await postJson(`${timed.url}/_simulator/faults`, { endpoints: { single: { outage: 500 } } });
    expect(await call()).toBe(500);
    await postJson(`${timed.url}/_simulator/faults`, { endpoints: { single: { outage: null } } });
    expect(await call()).toBe(200);
  });
});

describe('rejectVisitor', () => {
  it('refuses a single update naming the visitor in the query string or in a form body', async () => {
    sim.faults.rejectVisitor('CRM-R', 403);
    expect((await send(`${sim.url}/m2/${CLIENT}/profile/update?mbox3rdPartyId=CRM-R&profile.a=1`)).status).toBe(403);
    const inBody = await postForm(`${sim.url}/m2/${CLIENT}/profile/update`, 'mbox3rdPartyId=CRM-R&profile.a=1');
    expect(inBody.status).toBe(403);
    expect(xmlField(inBody.text, 'message')).toMatch(/Simulated rejection/);
    const split = await postForm(`${sim.url}/m2/${CLIENT}/profile/update?profile.a=1`, 'mbox3rdPartyId=CRM-R');
    expect(split.status).toBe(403);
    expect(sim.store.get('thirdPartyId', 'CRM-R')).toBeUndefined();
    expect((await postForm(`${sim.url}/m2/${CLIENT}/profile/update`, 'mbox3rdPartyId=CRM-OK&profile.a=1')).status).toBe(
      200,
    );
    expect(sim.stats.single).toBe(1);
  });

  it('defaults to 400 and is set through the admin route too', async () => {
    expect((await postJson(`${sim.url}/_simulator/faults`, { rejectVisitors: ['pc-R'] })).status).toBe(200);
    expect((await postForm(`${sim.url}/m2/${CLIENT}/profile/update`, 'mboxPC=pc-R&profile.a=1')).status).toBe(400);
  });
});

describe('the simulator command', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill('SIGTERM');
  });

  /** Starts `target-ingest simulator` from source and resolves with its URL. */
  async function startCommand(args: string[], env: Record<string, string> = {}): Promise<string> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'simulator', '--port', '0', '--client-code', CLIENT, ...args],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(child);
    const lines = createInterface({ input: child.stdout });
    for await (const line of lines) {
      const match = /listening at (http:\S+)/.exec(line);
      if (match?.[1] !== undefined) return match[1];
    }
    throw new Error('the simulator command ended without listening');
  }

  it('takes per-endpoint faults from --faults and from SIMULATOR_FAULTS', async () => {
    const fromFlag = await startCommand([
      '--faults',
      JSON.stringify({
        endpoints: { bulk: { outage: 503 }, single: { outageWindows: [{ durationMs: 60_000, status: 502 }] } },
      }),
    ]);
    expect((await postForm(`${fromFlag}/m2/${CLIENT}/v2/profile/batchUpdate`, body)).status).toBe(503);
    expect((await send(`${fromFlag}/m2/${CLIENT}/profile/update?mboxPC=c1&profile.a=1`)).status).toBe(502);

    const fromEnv = await startCommand([], {
      SIMULATOR_FAULTS: JSON.stringify({ endpoints: { status: { failNext: { count: 1, status: 500 } } } }),
    });
    const accepted = await postForm(`${fromEnv}/m2/${CLIENT}/v2/profile/batchUpdate`, body);
    const edgeLink = xmlField(accepted.text, 'batchStatus') ?? '';
    expect(edgeLink).toMatch(/^http:\/\/mboxedge45\.tt\.omtrdc\.net\//);
    const link = onSimulator(fromEnv, edgeLink);
    expect((await send(link)).status).toBe(500);
    const answer = await send(link);
    expect(answer.status).toBe(200);
    // The command's batches take 30 s by default (DEMO_BATCH_PROCESSING_MS).
    expect(xmlField(answer.text, 'status')).toBe('incomplete');
  }, 60_000);

  it('takes the status link, control token, credentials and batch timing from its flags', async () => {
    const base = await startCommand([
      '--status-link',
      'edge-legacy',
      '--control-token',
      'ctl',
      '--auth-token',
      'tok',
      '--batch-processing',
      '0',
      '--ims-client-secret',
      's3cret',
    ]);
    const accepted = await postForm(`${base}/m2/${CLIENT}/v2/profile/batchUpdate`, body, {
      authorization: 'Bearer tok',
    });
    const link = xmlField(accepted.text, 'batchStatus') ?? '';
    expect(link).toMatch(
      /^http:\/\/mboxedge19\.tt\.omtrdc\.net\/m2\/acme\/v2\/profile\/batchStatus\?batchId=.+&m2Node=00$/,
    );
    const status = await send(onSimulator(base, link), { headers: { authorization: 'Bearer tok' } });
    expect(xmlField(status.text, 'status')).toBe('complete');
    expect((await send(`${base}/_simulator/stats`, { headers: { authorization: 'Bearer tok' } })).status).toBe(401);
    expect((await send(`${base}/_simulator/stats`, { headers: { authorization: 'Bearer ctl' } })).status).toBe(200);
    const ims = await send(`${base}/ims/token/v3`, {
      method: 'POST',
      body: 'client_id=target-ingest-simulator&client_secret=s3cret&grant_type=client_credentials&scope=openid',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(ims.status).toBe(200);
  }, 60_000);
});
