import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '../../src/intake/producer.js';
import { QUEUE_NAMES, bullPrefix } from '../../src/jobs/catalog.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { deletePrefix, newRedis, redisUrl, uniquePrefix } from '../harness/context.js';
import { isPipelineIdle, openWorkQueues } from '../harness/drain.js';
import { waitFor } from '../harness/pipeline.js';
import { runBuilt, type RunningProcess } from '../harness/spawn-process.js';
import { NO_ROW_LOSS } from '../harness/no-row-loss.js';

/** The hash tag Redis Cluster hashes for a key: the text between the first `{` and the next `}`. */
function clusterHashTag(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open < 0) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

async function keysContaining(redis: Redis, text: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${text}*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

const API_KEY = 'pos:0123456789abcdef-cluster';
const ADMIN_TOKEN = 'admin-0123456789abcdef';

// Redis Cluster readiness: everything one pipeline writes hashes to the slot of `{prefix}`.
describe('keys of a full pipeline run (dist/workers/all-in-one.js)', () => {
  let redis: Redis;
  let simulator: Simulator;
  let proc: RunningProcess | undefined;
  let dataDir: string;
  const prefix = uniquePrefix('slot');

  beforeAll(async () => {
    redis = newRedis();
    simulator = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme' });
    dataDir = mkdtempSync(join(tmpdir(), 'ti-slot-'));
  });
  afterAll(async () => {
    if (proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.kill('SIGKILL');
      await proc.exited;
    }
    await simulator.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('puts every key and queue under the hash tag {REDIS_PREFIX}', async () => {
    const p = runBuilt('workers/all-in-one.js', {
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: prefix,
      TARGET_CLIENT_CODE: 'acme',
      TARGET_BASE_URL: simulator.url,
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      START_LOCAL_REDIS: 'false',
      INGEST_API_KEYS: API_KEY,
      ADMIN_TOKEN,
      COALESCE_WINDOW_MS: '50',
      FLUSH_INTERVAL_MS: '50',
      BULK_STATUS_POLL_MS: '100',
      RETRY_BASE_MS: '100',
      LOG_LEVEL: 'info',
    });
    proc = p;
    const listening = await p.waitForLine(/HTTP listening/);
    const address = /"address":"([^"]+)"/.exec(listening)?.[1];
    expect(address, listening).toBeDefined();

    // Every path that writes: HTTP intake and the SDK, a resend, single and bulk delivery
    // (a CRM id is first delivered by bulk), a permanent failure (dead letter), metrics.
    const at = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();
    const http = await request(`${address ?? ''}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY.slice(4)}`, 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          id: 'h-1',
          type: 'kiosk_visit',
          occurredAt: at(3),
          visitor: { mbox3rdPartyId: 'CRM-1' },
          data: { kioskId: 'K1' },
        },
        {
          id: 'h-2',
          type: 'kiosk_visit',
          occurredAt: at(2),
          visitor: { mboxPC: '1368007744041-575948.01_00' },
          data: { kioskId: 'K2' },
        },
      ]),
    });
    expect(http.statusCode, await http.body.text()).toBe(202);
    const producer = createProducer({ connection: redis, prefix, source: 'sdk' });
    await producer.sendMany([
      {
        id: 's-1',
        type: 'loan_funded',
        occurredAt: at(1),
        visitor: { mboxPC: '1368007744041-575948.01_00' },
        data: { loanId: 'L1', amount: 10 },
      },
      {
        id: 's-1',
        type: 'loan_funded',
        occurredAt: at(1),
        visitor: { mboxPC: '1368007744041-575948.01_00' },
        data: { loanId: 'L1', amount: 10 },
      },
    ]);
    expect(
      await waitFor(
        () =>
          simulator.store.get('thirdPartyId', 'CRM-1')?.kioskLastId === 'K1' &&
          simulator.store.get('pcId', '1368007744041-575948.01_00')?.loanLastAmount === '10',
      ),
    ).toBe(true);
    const queues = openWorkQueues(redis, prefix);
    const deadLetters = new Queue(QUEUE_NAMES.deadLetter, { connection: redis, prefix: bullPrefix(prefix) });
    const idle = () => isPipelineIdle(redis, prefix, queues);
    try {
      expect(await waitFor(idle)).toBe(true);
      // Target refuses the next call for good: that visitor becomes a dead letter.
      simulator.faults.failNext(1, 400);
      await producer.send({
        id: 's-2',
        type: 'kiosk_visit',
        occurredAt: at(0.5),
        visitor: { mboxPC: '1368007744041-000001.01_00' },
        data: { kioskId: 'K9' },
      });
      expect(await waitFor(async () => (await deadLetters.count()) === 1)).toBe(true);
      const metrics = await request(`${address ?? ''}/metrics`);
      await metrics.body.dump();
      expect(await waitFor(idle)).toBe(true);
    } finally {
      await producer.close();
      await Promise.all([...queues, deadLetters].map((q) => q.close()));
    }

    const keys = await keysContaining(redis, prefix);
    const kinds = new Set(keys.map((k) => k.slice(`{${prefix}}:`.length).split(':')[0]));
    // The run touched the store and the queues, so the scan saw the real thing.
    expect([...kinds]).toEqual(
      expect.arrayContaining([
        'vd',
        'seen',
        'merged',
        'stats',
        'ingest',
        'deliver-single',
        'deliver-bulk',
        'dead-letter',
        'flush',
      ]),
    );
    expect(keys.filter((k) => clusterHashTag(k) !== prefix)).toEqual([]);
  }, 60_000);
});
