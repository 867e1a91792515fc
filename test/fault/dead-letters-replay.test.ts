import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '../../src/intake/producer.js';
import { deletePrefix, newRedis, uniquePrefix } from '../harness/context.js';
import { DeadLetterAdmin } from '../../src/dlq/admin.js';
import { createLogger } from '../../src/logger.js';
import { startTestPipeline, waitFor } from '../harness/pipeline.js';
import { runBuilt } from '../harness/spawn-process.js';

/** Runs `target-ingest dlq …` (built) against the test's pipeline; returns parsed JSON output. */
async function dlq(env: Record<string, string>, args: string[]): Promise<unknown> {
  const proc = runBuilt('src/cli.js', env, ['dlq', ...args, '--json']);
  const code = await proc.exited;
  if (code !== 0) throw new Error(`dlq ${args.join(' ')} exited ${String(code)}: ${proc.lines.join('\n')}`);
  return JSON.parse(proc.lines.join('\n')) as unknown;
}

describe('poison events and a visitor Target rejects: dead letters, then replay after the fix', () => {
  let redis: Redis;
  let dir: string;
  const prefix = uniquePrefix('dlq');

  beforeAll(() => {
    redis = newRedis();
    dir = mkdtempSync(join(tmpdir(), 'ti-dlq-'));
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  it('isolates the bad ones, names stage and reason, and delivers them on replay', async () => {
    const env = { REDIS_PREFIX: prefix, DELIVERY_MODE: 'single', DELIVERY_MAX_ATTEMPTS: '2', DELIVERY_MAX_AGE_MS: '1' };
    let running = await startTestPipeline(env);
    const cliEnv = { REDIS_URL: running.config.REDIS_URL, REDIS_PREFIX: prefix };
    try {
      // 500 events in one producer batch; Target refuses one of the visitors.
      running.simulator.faults.rejectVisitor('CRM-REJECTED');
      const events = Array.from({ length: 500 }, (_, i) => ({
        id: `pos-${i}`,
        type: 'loyalty_card_used',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mbox3rdPartyId: i === 7 ? 'CRM-REJECTED' : `CRM-${i}` },
        data: { storeId: `S${i}` },
      }));
      const producer = createProducer({ connection: redis, prefix, source: 'pos' });
      expect((await producer.sendMany(events)).accepted).toBe(500);
      await producer.close();
      // A poison event reaches the map worker directly (a type the running mapping does not know).
      await running.pipeline.queues.ingest.add('events', {
        source: 'kiosk',
        receivedAt: Date.now(),
        events: [
          {
            id: 'k-1',
            type: 'kiosk_v2_visit',
            occurredAt: '2026-11-21T10:00:00Z',
            visitor: { mbox3rdPartyId: 'CRM-KIOSK' },
            data: { kioskId: 'K9' },
          },
          {
            id: 'k-2',
            type: 'kiosk_visit',
            occurredAt: '2026-11-21T10:00:00Z',
            visitor: { mbox3rdPartyId: 'CRM-KIOSK-OK' },
            data: { kioskId: 'K1' },
          },
        ],
      });
      expect(await waitFor(() => running.simulator.store.size === 500, 30_000)).toBe(true);
      expect(await waitFor(async () => (await running.pipeline.queues.deadLetter.count()) === 2, 20_000)).toBe(true);
      expect(running.simulator.store.get('thirdPartyId', 'CRM-REJECTED')).toBeUndefined();
      expect(running.simulator.store.get('thirdPartyId', 'CRM-KIOSK-OK')?.kioskLastId).toBe('K1');

      const listed = (await dlq(cliEnv, ['list'])) as {
        total: number;
        entries: Array<{
          stage: string;
          source?: string;
          error: { code: string; message: string; status?: number };
          attempts: number;
          firstAttemptAt: number;
          lastAttemptAt: number;
        }>;
      };
      expect(listed.total).toBe(2);
      const byStage = new Map(listed.entries.map((e) => [e.stage, e]));
      expect(byStage.get('map')).toMatchObject({ source: 'kiosk', error: { code: 'EVENT_INVALID' } });
      expect(byStage.get('map')?.error.message).toMatch(/type: unknown event type "kiosk_v2_visit"/);
      // A permanent refusal is not retried: one attempt. The visitor store knows the rejected
      // visitor's values came from "pos" alone.
      expect(byStage.get('deliver-single')).toMatchObject({
        source: 'pos',
        sources: ['pos'],
        attempts: 1,
        error: { code: 'TARGET_HTTP_400', status: 400 },
      });
      for (const e of listed.entries) expect(e.lastAttemptAt).toBeGreaterThanOrEqual(e.firstAttemptAt);
      const filtered = (await dlq(cliEnv, ['list', '--stage', 'map'])) as { total: number };
      expect(filtered.total).toBe(1);
      // One page at a time: `next` goes back as --cursor (docs/operations.md, "Dead letters and replay").
      const page1 = (await dlq(cliEnv, ['list', '--limit', '1'])) as {
        total: number;
        entries: Array<{ id: string }>;
        next?: string;
      };
      expect(page1).toMatchObject({ total: 2, entries: [{}] });
      expect(page1.next).toEqual(expect.any(String));
      const page2 = (await dlq(cliEnv, ['list', '--limit', '1', '--cursor', page1.next ?? ''])) as {
        entries: Array<{ id: string }>;
        next?: string;
      };
      expect(page2.entries).toHaveLength(1);
      expect(page2.entries[0]?.id).not.toBe(page1.entries[0]?.id);
      expect(page2.next).toBeUndefined();
      const fromPos = (await dlq(cliEnv, ['list', '--source', 'pos'])) as {
        total: number;
        entries: Array<{ stage: string }>;
      };
      expect(fromPos.entries.map((e) => e.stage)).toEqual(['deliver-single']);
      expect(((await dlq(cliEnv, ['list', '--source', 'unknown'])) as { total: number }).total).toBe(0);
      expect(((await dlq(cliEnv, ['list', '--source', 'kiosk'])) as { total: number }).total).toBe(1);
      const dry = (await dlq(cliEnv, ['replay', '--dry-run'])) as { matched: number; done: number };
      expect(dry).toMatchObject({ matched: 2, done: 0 });
      expect(await running.pipeline.queues.deadLetter.count()).toBe(2);

      // The fixes: Target accepts the visitor again, and the mapping learns the new type.
      await running.close();
      const mappingFile = join(dir, 'mapping.json');
      writeFileSync(
        mappingFile,
        JSON.stringify({
          mode: 'extend',
          events: {
            kiosk_v2_visit: {
              data: { kioskId: { type: 'string', required: true } },
              attributes: { kioskLastId: { from: 'data.kioskId' } },
            },
          },
        }),
      );
      running = await startTestPipeline({ ...env, MAPPING_FILE: mappingFile });
      const replayed = (await dlq(cliEnv, ['replay'])) as { matched: number; done: number };
      expect(replayed).toMatchObject({ matched: 2, done: 2 });
      expect(
        await waitFor(
          () => running.simulator.store.get('thirdPartyId', 'CRM-REJECTED')?.loyaltyLastStoreId === 'S7',
          20_000,
        ),
      ).toBe(true);
      expect(
        await waitFor(() => running.simulator.store.get('thirdPartyId', 'CRM-KIOSK')?.kioskLastId === 'K9', 20_000),
      ).toBe(true);
      expect(await running.pipeline.queues.deadLetter.count()).toBe(0);
    } finally {
      await running.close();
    }
  });

  it('a visitor Target keeps answering 503 is dead-lettered only after both limits, with every run counted', async () => {
    // Two BullMQ attempts, then self-scheduled runs until the job is 1.5 s old.
    const running = await startTestPipeline({
      DELIVERY_MODE: 'single',
      DELIVERY_MAX_ATTEMPTS: '2',
      DELIVERY_MAX_AGE_MS: '1500',
      RETRY_BASE_MS: '100',
      RETRY_MAX_MS: '200',
    });
    try {
      running.simulator.faults.rejectVisitor('CRM-DOWN', 503);
      const producer = createProducer({ connection: redis, prefix: running.prefix, source: 'pos' });
      await producer.send({
        id: 'd-1',
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mbox3rdPartyId: 'CRM-DOWN' },
        data: { kioskId: 'K1' },
      });
      await producer.close();
      const admin = new DeadLetterAdmin(
        running.pipeline.queues,
        running.pipeline.store,
        createLogger({ level: 'silent', pretty: false }),
      );
      expect(await waitFor(async () => (await admin.list({})).total === 1, 20_000, 100)).toBe(true);
      const [entry] = (await admin.list({ source: 'pos' })).entries;
      const calls = running.simulator.stats.byStatus[503] ?? 0;
      expect(entry).toMatchObject({
        stage: 'deliver-single',
        source: 'pos',
        error: { code: 'TARGET_HTTP_503', status: 503 },
      });
      // More runs than BullMQ's two attempts, each one a call Target refused.
      expect(entry?.attempts).toBeGreaterThan(2);
      expect(entry?.attempts).toBe(calls);
      expect((entry?.lastAttemptAt ?? 0) - (entry?.firstAttemptAt ?? 0)).toBeGreaterThanOrEqual(1500);
      // The store knew the values came from "pos" alone: nothing without a source is left.
      expect((await admin.list({ source: 'unknown' })).total).toBe(0);
    } finally {
      await running.close();
      await deletePrefix(redis, running.prefix);
    }
  });
});
