import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { resolveMapping } from '../../../src/events/index.js';
import { createLogger } from '../../../src/logger.js';
import { secretsFromEnv } from '../../../src/redact.js';
import { ALL_ROLES, type Pipeline } from '../../../src/pipeline.js';
import { startPipeline } from '../../../src/lifecycle/start-pipeline.js';
import { waitFor } from '../../harness/pipeline.js';
import { spawnRedis, type SpawnedRedis } from '../../harness/redis-server.js';
import {
  ADMIN_TOKEN,
  READONLY_TOKEN,
  basic,
  bearer,
  memoryDestination,
  startOpsServer,
  teeLogger,
  type OpsServer,
} from './ops-server.js';

const API_KEY = 'pos-key-5c9e1a7b3d2f4e6a';
const WRONG_KEY = 'pos-key-guessed-00000000';
const WRONG_TOKEN = 'admin-guessed-0123456789abcdef';
const CARD = '6011000990139424';
const SPACED_CARD = '4111 1111 1111 1111';
const AGENT = 'AGENT-4711-ZZ';
/** Target refuses this visitor with an error body that echoes the request, card number included. */
const ECHO_VISITOR = 'CRM-ECHO-7';
const at = (minutesAgo: number): string => new Date(Date.now() - minutesAgo * 60_000).toISOString();

/**
 * A Target in front of the simulator that answers 400 to single updates for ECHO_VISITOR
 * with the decoded request in its body, as error pages that quote their input do.
 */
async function echoingTarget(): Promise<{ url: string; upstream: { url: string }; close(): Promise<void> }> {
  const upstream = { url: '' };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = request.url ?? '/';
      if (decodeURIComponent(url).includes(`mbox3rdPartyId=${ECHO_VISITOR}`)) {
        response.writeHead(400, { 'content-type': 'application/xml' });
        response.end(
          `<response><message>invalid request ${decodeURIComponent(url).replace(/[<&]/g, ' ')}</message></response>`,
        );
        return;
      }
      const headers = Object.fromEntries(
        Object.entries(request.headers).filter(
          ([k, v]) =>
            typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k),
        ),
      ) as Record<string, string>;
      fetch(`${upstream.url}${url}`, { method: request.method ?? 'GET', headers, ...(body.length > 0 ? { body } : {}) })
        .then(async (answer) => {
          response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
          response.end(Buffer.from(await answer.arrayBuffer()));
        })
        .catch(() => {
          response.writeHead(502);
          response.end();
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    upstream,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('logs of a run that handles tokens, API keys, card numbers and agent ids', () => {
  let ops: OpsServer;
  let target: Awaited<ReturnType<typeof echoingTarget>>;
  let deadLetterView = '';
  let storedDeadLetters = '';
  const statuses: Record<string, number> = {};

  const call = async (name: string, path: string, init: RequestInit): Promise<void> => {
    const response = await fetch(`${ops.url}${path}`, init);
    statuses[name] = response.status;
    await response.arrayBuffer();
  };
  const json = (authorization: string, payload: unknown): RequestInit => ({
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });

  beforeAll(async () => {
    target = await echoingTarget();
    ops = await startOpsServer({
      roles: ALL_ROLES,
      logLevel: 'trace',
      rawLog: true,
      targetBaseUrl: target.url,
      env: { INGEST_API_KEYS: `pos-eu:${API_KEY}`, DELIVERY_MODE: 'single', RETRY_BASE_MS: '50' },
    });
    target.upstream.url = ops.simulator.url;

    // Admin requests: right and wrong tokens, as Bearer and as Basic.
    for (const [name, authorization] of [
      ['admin bearer', bearer(ADMIN_TOKEN)],
      ['admin basic', basic(ADMIN_TOKEN)],
      ['reader bearer', bearer(READONLY_TOKEN)],
      ['wrong bearer', bearer(WRONG_TOKEN)],
      ['wrong basic', basic(WRONG_TOKEN)],
    ] as const) {
      await call(name, '/admin/dead-letters?stage=map', { headers: { authorization } });
      await call(`${name} queues`, '/admin/queues', { headers: { authorization } });
    }
    await call('form post', '/admin/dead-letters/purge', {
      method: 'POST',
      headers: { authorization: basic(ADMIN_TOKEN), 'content-type': 'text/plain' },
      body: `{"all": true, "token": "${ADMIN_TOKEN}"}`,
    });
    await call('wrong purge', '/admin/dead-letters/purge', json(bearer(WRONG_TOKEN), { all: true }));
    // Secrets pasted into filter fields reach the "dead letters purged/replayed" lines.
    await call('purge card', '/admin/dead-letters/purge', json(bearer(ADMIN_TOKEN), { filter: { source: CARD } }));
    await call(
      'replay token',
      '/admin/dead-letters/replay',
      json(basic(ADMIN_TOKEN), { filter: { code: ADMIN_TOKEN } }),
    );
    await call('purge key', '/admin/dead-letters/purge', json(bearer(ADMIN_TOKEN), { filter: { source: API_KEY } }));

    // Intake: a wrong key, then events with private fields and a card number in a mapped field.
    const events = [
      {
        id: 'ev-card',
        type: 'loyalty_card_used',
        occurredAt: at(30),
        visitor: { mbox3rdPartyId: 'CRM-A-1' },
        data: { storeId: 'S1', points: 3, cardId: CARD },
      },
      {
        id: 'ev-agent',
        type: 'call_centre_contact',
        occurredAt: at(30),
        visitor: { mbox3rdPartyId: 'CRM-B-2' },
        data: { reason: 'billing', agentId: AGENT },
      },
      {
        id: 'ev-echo',
        type: 'kiosk_visit',
        occurredAt: at(30),
        visitor: { mbox3rdPartyId: ECHO_VISITOR },
        data: { kioskId: 'K1', location: `desk, card ${SPACED_CARD}` },
      },
      {
        id: 'ev-bad',
        type: 'loyalty_card_used',
        occurredAt: at(30),
        visitor: { mbox3rdPartyId: 'CRM-C-3' },
        data: { storeId: 'S1', cardId: Number(CARD) },
        [CARD]: 'x',
      },
    ];
    await call('intake wrong key', '/v1/events', json(bearer(WRONG_KEY), events));
    await call('intake', '/v1/events', json(bearer(API_KEY), events));
    expect(
      await waitFor(
        async () =>
          ops.simulator.store.get('thirdPartyId', 'CRM-B-2') !== undefined &&
          (await ops.pipeline.queues.deadLetter.getJobCounts()).waiting === 1,
      ),
    ).toBe(true);

    const view = await fetch(`${ops.url}/admin/dead-letters`, { headers: { authorization: bearer(READONLY_TOKEN) } });
    deadLetterView = await view.text();
    storedDeadLetters = JSON.stringify(
      (await ops.pipeline.queues.deadLetter.getJobs(['waiting'])).map((job) => job.data),
    );
  });
  afterAll(async () => {
    await ops.close();
    await target.close();
  });

  it('answered every request as expected', () => {
    expect(statuses).toMatchObject({
      'admin bearer': 200,
      'admin basic': 200,
      'reader bearer': 200,
      'wrong bearer': 401,
      'wrong basic': 401,
      'form post': 415,
      'wrong purge': 401,
      'purge card': 200,
      'replay token': 200,
      'purge key': 200,
      'intake wrong key': 401,
      intake: 202,
    });
  });

  it('logged the run: the admin actions, the intake request, the deliveries and the refused one', () => {
    const lines = ops.logLines.map((line) => JSON.parse(line) as { msg?: string; code?: string });
    const count = (msg: string): number => lines.filter((line) => line.msg === msg).length;
    expect(count('dead letters purged')).toBe(2);
    expect(count('dead letters replayed')).toBe(1);
    expect(count('intake request')).toBe(1);
    expect(count('single delivery')).toBeGreaterThanOrEqual(1);
    expect(lines.some((line) => line.msg === 'dead-lettered visitor updates' && line.code === 'TARGET_HTTP_400')).toBe(
      true,
    );
    // The raw copy saw the same calls: nothing was dropped instead of redacted.
    expect(ops.rawLogLines.length).toBe(ops.logLines.length);
  });

  it('wrote secrets handed to the logger masked: the unredacted copy of the same calls holds them', () => {
    const raw = ops.rawLogLines.join('\n');
    const logs = ops.logLines.join('\n');
    // Card number: caught by content (digit runs); admin token and API key: by known value.
    for (const secret of [CARD, ADMIN_TOKEN, API_KEY]) {
      expect(raw, `the run did not hand ${secret} to the logger`).toContain(secret);
      expect(logs, `leaked ${secret}`).not.toContain(secret);
    }
    expect(logs).toContain('[redacted-number]');
  });

  it('logged no token, API key, card number or agent id anywhere, in any encoding', () => {
    const logs = ops.logLines.join('\n');
    const secrets = [
      ADMIN_TOKEN,
      READONLY_TOKEN,
      WRONG_TOKEN,
      API_KEY,
      WRONG_KEY,
      CARD,
      SPACED_CARD,
      SPACED_CARD.replace(/ /g, ''),
      AGENT,
    ];
    const encoded = [ADMIN_TOKEN, READONLY_TOKEN, WRONG_TOKEN].map((token) => basic(token).slice('Basic '.length));
    for (const secret of [...secrets, ...encoded, encodeURIComponent(SPACED_CARD)])
      expect(logs, `leaked ${secret}`).not.toContain(secret);
  });

  it('keeps the card number Target echoed in the dead letter, and out of the admin view of it', () => {
    // Dead letters keep what replay needs, in Redis; what an operator is shown is masked.
    expect(storedDeadLetters).toContain(SPACED_CARD);
    expect(deadLetterView).toContain('TARGET_HTTP_400');
    expect(deadLetterView).toContain('[redacted-number]');
    for (const secret of [SPACED_CARD, SPACED_CARD.replace(/ /g, ''), CARD, AGENT])
      expect(deadLetterView).not.toContain(secret);
  });
});

describe('logs of a process whose Redis password is wrong', () => {
  const RIGHT = 'r3dis-right-pa55word-0001';
  const WRONG = 'r3dis-wrong-pa55word-9999';
  let redis: SpawnedRedis;

  beforeAll(async () => {
    redis = await spawnRedis();
    const admin = new Redis(redis.url);
    await admin.config('SET', 'requirepass', RIGHT);
    await admin.quit();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('masks the password ioredis attaches to its AUTH errors, for a single node and for cluster seeds', async () => {
    for (const url of [
      `redis://:${WRONG}@127.0.0.1:${redis.port}`,
      `redis://:${WRONG}@127.0.0.1:${redis.port},redis://:${WRONG}@127.0.0.2:${redis.port}`,
    ]) {
      const env = {
        REDIS_URL: url.split(',')[0] ?? url,
        REDIS_PREFIX: 'wrongpass',
        TARGET_CLIENT_CODE: 'acme',
        TARGET_BASE_URL: 'http://127.0.0.1:9',
      };
      const lines: string[] = [];
      const rawLines: string[] = [];
      // Built as src/lifecycle/process.ts builds it: the secret values come from the environment (here
      // the REDIS_URL as written, seeds and all), the config from the same environment.
      const logger = createLogger({
        level: 'info',
        pretty: false,
        destination: memoryDestination(lines),
        secretValues: secretsFromEnv({ REDIS_URL: url }),
      });
      const raw = pino({ level: 'info' }, memoryDestination(rawLines));
      let pipeline: Pipeline | undefined;
      const started = startPipeline({
        config: loadConfig(env),
        mapping: resolveMapping(),
        logger: teeLogger(logger, raw),
        roles: ['map'],
        targetBaseUrl: 'http://127.0.0.1:9',
      }).then((p) => (pipeline = p));
      expect(await waitFor(() => Promise.resolve(lines.some((line) => line.includes('WRONGPASS'))))).toBe(true);
      // Let the process in, so it starts and closes cleanly.
      const admin = new Redis(redis.url, { password: RIGHT });
      await admin.config('SET', 'requirepass', WRONG);
      await started;
      await pipeline?.close();
      await admin.config('SET', 'requirepass', RIGHT);
      await admin.quit();

      expect(rawLines.join('\n'), 'ioredis no longer puts the password in its error').toContain(WRONG);
      const logs = lines.join('\n');
      expect(logs).toContain('worker error');
      expect(logs).not.toContain(WRONG);
      expect(logs).not.toContain(RIGHT);
    }
  });
});
