import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../harness/pipeline.js';
import { spawnRedis } from '../../harness/redis-server.js';
import { counterValue, kioskVisit, startIntakeServer, type Answer } from '../../harness/intake-server.js';

function expectRetryLater(answer: Answer, status: number, error: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['retry-after']).toBe('7');
  expect(answer.body).toMatchObject({ accepted: 0, duplicates: 0, error });
}

describe('POST /v1/events under backpressure', () => {
  it('429 with Retry-After once more batches wait than INTAKE_MAX_QUEUED_BATCHES, counted in metrics', async () => {
    // No map worker runs, so every accepted batch stays queued.
    const server = await startIntakeServer({
      env: { INTAKE_MAX_QUEUED_BATCHES: '2', INTAKE_RETRY_AFTER_SECONDS: '7' },
    });
    try {
      const answers: Answer[] = [];
      let n = 0;
      // The load reading is cached for a few hundred ms, so a few more batches may get in first.
      expect(
        await waitFor(
          async () => {
            answers.push(await server.post(kioskVisit(`bp-${n++}`)));
            return answers.at(-1)?.status === 429;
          },
          10_000,
          20,
        ),
      ).toBe(true);
      const refused = answers.at(-1);
      if (refused === undefined) throw new Error('no answer');
      expectRetryLater(refused, 429, 'BACKLOG');
      expect(refused.body.message).toMatch(/batches are waiting to be processed \(limit 2\)/);
      expect(answers.slice(0, -1).every((a) => a.status === 202)).toBe(true);
      expect(await server.running.pipeline.queues.ingest.getWaitingCount()).toBe(answers.length - 1);
      expect(await counterValue(server.metrics, 'ti_intake_backpressure_total', { reason: 'backlog' })).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('429 with Retry-After once more visitors wait for delivery than INTAKE_MAX_PENDING_VISITORS', async () => {
    // A map worker merges every batch into the visitor store; no flusher runs, so each
    // visitor stays pending (a long window keeps it from being due anyway).
    const server = await startIntakeServer({
      roles: ['map'],
      env: {
        INTAKE_MAX_PENDING_VISITORS: '3',
        INTAKE_RETRY_AFTER_SECONDS: '7',
        COALESCE_WINDOW_MS: '600000',
        COALESCE_MAX_WAIT_MS: '600000',
      },
    });
    try {
      const answers: Answer[] = [];
      let n = 0;
      expect(
        await waitFor(
          async () => {
            // One new visitor per request; the batch queue never backs up (the worker drains it).
            answers.push(await server.post(kioskVisit(`pv-${n}`, `CRM-pv-${n}`)));
            n += 1;
            return answers.at(-1)?.status === 429;
          },
          15_000,
          50,
        ),
      ).toBe(true);
      const refused = answers.at(-1);
      if (refused === undefined) throw new Error('no answer');
      expectRetryLater(refused, 429, 'BACKLOG');
      expect(refused.body.message).toMatch(/^\d+ visitors are waiting for delivery \(limit 3\); slow down and retry$/);
      expect(answers.slice(0, -1).every((a) => a.status === 202)).toBe(true);
      // Refused only once more than 3 visitors were pending, and nothing of the refused request was taken.
      expect(await server.running.pipeline.store.pendingVisitors()).toBeGreaterThan(3);
      expect(
        await waitFor(
          async () => (await server.running.pipeline.store.pendingVisitors()) === answers.length - 1,
          5_000,
        ),
      ).toBe(true);
      expect(await counterValue(server.metrics, 'ti_intake_backpressure_total', { reason: 'backlog' })).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('503 with Retry-After while Redis is above INTAKE_MAX_REDIS_MEMORY_RATIO of its maxmemory', async () => {
    const redis = await spawnRedis({ extraArgs: ['--maxmemory', '64mb'] });
    // A fresh Redis uses about 1 MB: 0.001 of 64 MB is below that, 0.9 far above.
    const tight = await startIntakeServer({
      env: { REDIS_URL: redis.url, INTAKE_MAX_REDIS_MEMORY_RATIO: '0.001', INTAKE_RETRY_AFTER_SECONDS: '7' },
    });
    const roomy = await startIntakeServer({ env: { REDIS_URL: redis.url, INTAKE_MAX_REDIS_MEMORY_RATIO: '0.9' } });
    try {
      const refused = await tight.post(kioskVisit('mem-1'));
      expectRetryLater(refused, 503, 'REDIS_MEMORY');
      expect(refused.body.message).toMatch(/^Redis is at \d+% of its memory limit/);
      expect(await counterValue(tight.metrics, 'ti_intake_backpressure_total', { reason: 'redis_memory' })).toBe(1);
      expect((await roomy.post(kioskVisit('mem-2'))).status).toBe(202);
    } finally {
      await tight.close();
      await roomy.close();
      await redis.stop();
    }
  });

  it('503 with Retry-After (never a 500) while Redis is down, and 202 again once it is back', async () => {
    const first = await spawnRedis();
    const server = await startIntakeServer({ env: { REDIS_URL: first.url, INTAKE_RETRY_AFTER_SECONDS: '7' } });
    let second: Awaited<ReturnType<typeof spawnRedis>> | undefined;
    try {
      expect((await server.post(kioskVisit('down-1'))).status).toBe(202);
      await first.stop();
      const refused = await server.post(kioskVisit('down-2'));
      expectRetryLater(refused, 503, 'REDIS_UNAVAILABLE');
      expect(refused.text).not.toMatch(/ECONNREFUSED|at .*\.js/);
      expect(
        await counterValue(server.metrics, 'ti_intake_backpressure_total', { reason: 'redis_unavailable' }),
      ).toBeGreaterThanOrEqual(1);

      second = await spawnRedis({ port: first.port });
      expect(await waitFor(async () => (await server.post(kioskVisit('down-3'))).status === 202, 15_000, 100)).toBe(
        true,
      );
    } finally {
      await server.close();
      await second?.stop();
    }
  });

  it('503 with Retry-After (never a 500) when Redis refuses to store the batch, and the resend is taken', async () => {
    // A private Redis that turns writes away (NOREPLICAS) while reads go on: the load check
    // before the body passes, and storing the batch fails.
    const own = await spawnRedis();
    const admin = new Redis(own.url);
    const server = await startIntakeServer({ env: { REDIS_URL: own.url, INTAKE_RETRY_AFTER_SECONDS: '7' } });
    try {
      expect((await server.post(kioskVisit('store-1'))).status).toBe(202);
      await admin.config('SET', 'min-replicas-to-write', '1');
      const refused = await server.post([kioskVisit('store-2'), kioskVisit('store-3')]);
      expectRetryLater(refused, 503, 'REDIS_UNAVAILABLE');
      expect(refused.body.message).toBe(
        'the events could not be stored in Redis; send the request again (events already taken are reported as duplicates)',
      );
      expect(refused.text).not.toMatch(/NOREPLICAS|at .*\.js/);
      expect(await server.running.pipeline.queues.ingest.getWaitingCount()).toBe(1);
      expect(await counterValue(server.metrics, 'ti_intake_backpressure_total', { reason: 'redis_unavailable' })).toBe(
        1,
      );

      // Nothing was marked as taken, so the resend is accepted, not reported as duplicates.
      await admin.config('SET', 'min-replicas-to-write', '0');
      const resent = await server.post([kioskVisit('store-2'), kioskVisit('store-3')]);
      expect(resent.status).toBe(202);
      expect(resent.body).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    } finally {
      await admin.config('SET', 'min-replicas-to-write', '0');
      await server.close();
      await admin.quit();
      await own.stop();
    }
  });

  it('503 with Retry-After once the process is shutting down', async () => {
    let stopping = false;
    const server = await startIntakeServer({ env: { INTAKE_RETRY_AFTER_SECONDS: '7' }, isStopping: () => stopping });
    try {
      expect((await server.post(kioskVisit('stop-1'))).status).toBe(202);
      stopping = true;
      expectRetryLater(await server.post(kioskVisit('stop-2')), 503, 'SHUTTING_DOWN');
      expect(await counterValue(server.metrics, 'ti_intake_backpressure_total', { reason: 'shutting_down' })).toBe(1);
    } finally {
      await server.close();
    }
  });
});
