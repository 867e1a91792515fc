import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import { storeKeys } from '../../../src/redis/keys.js';
import { startIntakeServer, type IntakeServer } from '../../harness/intake-server.js';
import { runBuilt } from '../../harness/spawn-process.js';
import { waitFor } from '../../harness/pipeline.js';

const ADMIN = 'admin-token-forget-0123456789';
const FORGOTTEN = 'CRM-FORGET-1';
const KEPT = 'CRM-KEEP-2';
const BASE = Date.UTC(2026, 10, 20, 12);

function event(visitor: string, n: number, at: number) {
  return {
    id: `${visitor}-e${n}`,
    type: 'loyalty_card_used',
    occurredAt: new Date(at).toISOString(),
    visitor: { mbox3rdPartyId: visitor },
    data: { storeId: `S${n}`, points: n },
  };
}

describe('forget a visitor: pending, in flight and dead-lettered, then events and replays for it', () => {
  let server: IntakeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('removes everything of it, drops what comes later for it, and counts what it dropped', async () => {
    server = await startIntakeServer({
      roles: ['map', 'flusher', 'deliver'],
      // A 5-s first retry: the in-flight values are not re-read (with the newer pending ones) before the forget.
      env: { DELIVERY_MODE: 'single', ADMIN_TOKEN: ADMIN, COALESCE_WINDOW_MS: '200', RETRY_BASE_MS: '5000' },
    });
    // The process' metrics plugin watches the pipeline (src/ops/metrics-route.ts).
    const { running, metrics } = server;
    const { pipeline, simulator } = running;
    const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const forgottenKey = `3p:${FORGOTTEN}`;
    const keys = storeKeys(running.prefix);

    // Target is down for single updates: the first values of both visitors stay in flight.
    simulator.faults.outage(503, { endpoint: 'single' });
    expect((await server.post([event(FORGOTTEN, 1, BASE), event(KEPT, 1, BASE)])).body.accepted).toBe(2);
    const leased = async () => (await pipeline.redis.zscore(keys.leases, forgottenKey)) !== null;
    expect(await waitFor(leased, 10_000)).toBe(true);
    // A newer event while the first is in flight: pending.
    expect((await server.post([event(FORGOTTEN, 2, BASE + 60_000)])).body.accepted).toBe(1);
    expect(await waitFor(async () => (await pipeline.redis.exists(keys.pending(forgottenKey))) === 1)).toBe(true);
    // Dead letters: raw events of both visitors (map stage), and a delivery of it alone.
    const mapLetter: DeadLetter = {
      stage: 'map',
      source: 'pos-eu',
      events: [event(FORGOTTEN, 3, BASE + 120_000), event(KEPT, 3, BASE + 120_000)],
      error: { class: 'Error', code: 'MAP_FAILED', message: 'redis went away' },
      attempts: 20,
      firstAttemptAt: BASE,
      lastAttemptAt: BASE,
    };
    const deliveryLetter: DeadLetter = {
      stage: 'deliver-single',
      source: 'pos-eu',
      visitors: [{ vk: forgottenKey, attributes: { loyaltyLastPoints: { value: '77', stamp: `000${BASE}|x` } } }],
      error: { class: 'TargetRejectedError', code: 'TARGET_HTTP_400', message: 'rejected' },
      attempts: 1,
      firstAttemptAt: BASE,
      lastAttemptAt: BASE,
    };
    await pipeline.queues.deadLetter.add('map', mapLetter);
    await pipeline.queues.deadLetter.add('deliver-single', deliveryLetter);
    const keptVisitor = {
      vk: `3p:${KEPT}`,
      attributes: { loyaltyLastStoreId: { value: 'S0', stamp: `000${BASE - 1}|y` } },
    };

    // Landing-audit checks name the visitor in their data: one waiting its delay, one that
    // failed (kept for days), and the other visitor's, which stays.
    const audit = (vk: string) => ({
      vk,
      sentAt: BASE,
      route: 'single' as const,
      attributes: { loyaltyLastPoints: `000${BASE}|x` },
    });
    await pipeline.queues.landingAudit.add('audit single', audit(forgottenKey), { delay: 3_600_000 });
    await pipeline.queues.landingAudit.add('audit single', audit(`3p:${KEPT}`), { delay: 3_600_000 });
    // Failed, as BullMQ keeps a job that spent its attempts: its id in the queue's failed set.
    const failedAudit = await pipeline.queues.landingAudit.add('audit single', audit(forgottenKey), {
      delay: 3_600_000,
    });
    const { delayed, failed } = pipeline.queues.landingAudit.keys;
    if (delayed === undefined || failed === undefined) throw new Error('BullMQ queue keys changed');
    await pipeline.redis.zrem(delayed, String(failedAudit.id));
    await pipeline.redis.zadd(failed, Date.now(), String(failedAudit.id));
    expect(await pipeline.queues.landingAudit.getJobState(String(failedAudit.id))).toBe('failed');
    // An ingest job that failed for good with events of both visitors: kept in the failed set.
    const failedIngest = await pipeline.queues.ingest.add(
      'events',
      { source: 'pos-eu', receivedAt: BASE, events: [event(FORGOTTEN, 4, BASE), event(KEPT, 4, BASE)] },
      { delay: 3_600_000 },
    );
    const ingestKeys = pipeline.queues.ingest.keys;
    if (ingestKeys.delayed === undefined || ingestKeys.failed === undefined)
      throw new Error('BullMQ queue keys changed');
    await pipeline.redis.zrem(ingestKeys.delayed, String(failedIngest.id));
    await pipeline.redis.zadd(ingestKeys.failed, Date.now(), String(failedIngest.id));

    // A single-delivery job that failed for good, listing both visitors (kept for days).
    const failedDelivery = await pipeline.queues.deliverSingle.add(
      'deliver',
      { claimId: 'c-failed', visitors: [forgottenKey, `3p:${KEPT}`], answerLost: [forgottenKey] },
      { delay: 3_600_000, jobId: 'c-failed' },
    );
    const deliverKeys = pipeline.queues.deliverSingle.keys;
    if (deliverKeys.delayed === undefined || deliverKeys.failed === undefined)
      throw new Error('BullMQ queue keys changed');
    await pipeline.redis.zrem(deliverKeys.delayed, String(failedDelivery.id));
    await pipeline.redis.zadd(deliverKeys.failed, Date.now(), String(failedDelivery.id));

    const forget = await request(`${server.url}/admin/visitors/mbox3rdPartyId/${FORGOTTEN}/forget`, {
      method: 'POST',
      headers: admin,
      body: '{}',
    });
    const answer = (await forget.body.json()) as {
      visitorHash: string;
      store: { pending: number; inFlight: number; delivered: number; claimed: boolean };
      deadLetters: { removed: number; edited: number };
      landingAudits: { removed: number };
      ingestJobs: { removed: number; edited: number };
      deliveryJobs: { removed: number; edited: number };
      suppressedUntil: string;
    };
    expect(forget.statusCode).toBe(200);
    expect(answer.store).toMatchObject({ pending: 3, inFlight: 3, delivered: 0, claimed: true });
    expect(answer.deadLetters).toEqual({ removed: 1, edited: 1 });
    expect(answer.landingAudits).toEqual({ removed: 2 });
    expect(answer.ingestJobs).toEqual({ removed: 0, edited: 1 });
    expect(answer.deliveryJobs).toEqual({ removed: 0, edited: 1 });
    expect((await pipeline.queues.deliverSingle.getJob('c-failed'))?.data).toEqual({
      claimId: 'c-failed',
      visitors: [`3p:${KEPT}`],
      answerLost: [],
    });
    expect((await pipeline.queues.ingest.getJob(String(failedIngest.id)))?.data.events).toEqual([event(KEPT, 4, BASE)]);
    const audits = await pipeline.queues.landingAudit.getJobs(['delayed', 'waiting', 'failed', 'active', 'completed']);
    expect(audits.map((j) => ('vk' in j.data ? j.data.vk : undefined))).toEqual([`3p:${KEPT}`]);
    expect(answer.visitorHash).toMatch(/^[0-9a-f]{40}$/);
    expect(JSON.stringify(answer)).not.toContain(FORGOTTEN);
    for (const key of [keys.pending(forgottenKey), keys.inFlight(forgottenKey), keys.delivered(forgottenKey)]) {
      expect(await pipeline.redis.exists(key)).toBe(0);
    }

    // A delivery or map job that held its values when it was forgotten writes a dead letter:
    // the writer takes the forgotten visitor back out (the whole entry when only it was in).
    await pipeline.deadLetters.add({ ...deliveryLetter, visitors: [...deliveryLetter.visitors!, keptVisitor] });
    await pipeline.deadLetters.add(deliveryLetter, 'late-delivery-letter');
    const written = await pipeline.queues.deadLetter.getJobs(['waiting'], 0, -1);
    expect(written.map((j) => j.data.visitors?.map((v) => v.vk) ?? j.data.events?.length)).toEqual([[`3p:${KEPT}`], 1]);
    await pipeline.queues.deadLetter.obliterate({ force: true });
    await pipeline.queues.deadLetter.add('map', { ...mapLetter, events: [event(KEPT, 3, BASE + 120_000)] });

    // Dead letters written after the forget by something that bypasses the writer (an older
    // version, a hand-made entry): replaying them must not bring the visitor back either.
    await pipeline.queues.deadLetter.add('map', { ...mapLetter, events: [event(FORGOTTEN, 5, BASE + 240_000)] });
    await pipeline.queues.deadLetter.add('deliver-single', deliveryLetter);

    // Target is back; more events for the forgotten visitor arrive, and every dead letter is replayed.
    simulator.faults.restore();
    expect((await server.post([event(FORGOTTEN, 4, BASE + 180_000)])).body.accepted).toBe(1);
    const replay = await request(`${server.url}/admin/dead-letters/replay`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ all: true }),
    });
    expect(replay.statusCode).toBe(200);
    expect(await replay.body.json()).toMatchObject({ matched: 3, done: 3 });

    // The other visitor's replayed values land; nothing of the forgotten one ever does.
    const landed = () => simulator.store.get('thirdPartyId', KEPT)?.loyaltyLastPoints === '3';
    expect(await waitFor(landed, 15_000)).toBe(true);
    expect(
      await waitFor(async () => {
        const { pending, inFlight } = await pipeline.store.backlog();
        return pending === 0 && inFlight === 0;
      }, 15_000),
    ).toBe(true);
    expect(simulator.store.get('thirdPartyId', FORGOTTEN)).toBeUndefined();
    for (const key of [keys.pending(forgottenKey), keys.inFlight(forgottenKey), keys.delivered(forgottenKey)]) {
      expect(await pipeline.redis.exists(key)).toBe(0);
    }
    expect(await pipeline.queues.deadLetter.getWaitingCount()).toBe(0);

    // Counted: the new event and the replayed one, from source pos-eu (restored values are
    // not events: the restore script skips them).
    expect((await pipeline.store.stats()).events_suppressed).toBe(2);
    // The map job's `completed` event, which feeds the counter, follows its merge.
    const counted = async () =>
      (await metrics.registry.metrics()).includes('ti_events_suppressed_total{source="pos-eu"} 2');
    expect(await waitFor(counted, 5_000)).toBe(true);
  });

  it('needs the admin token and JSON, and names a bad visitor kind', async () => {
    server = await startIntakeServer({
      env: { ADMIN_TOKEN: ADMIN, ADMIN_READONLY_TOKEN: 'readonly-token-0123456789' },
    });
    const url = `${server.url}/admin/visitors/mbox3rdPartyId/${FORGOTTEN}/forget`;
    const post = (headers: Record<string, string>, body = '{}') => request(url, { method: 'POST', headers, body });
    expect((await post({ 'content-type': 'application/json' })).statusCode).toBe(401);
    expect(
      (await post({ authorization: 'Bearer readonly-token-0123456789', 'content-type': 'application/json' }))
        .statusCode,
    ).toBe(403);
    expect((await post({ authorization: `Bearer ${ADMIN}`, 'content-type': 'text/plain' })).statusCode).toBe(415);
    const bad = await post({ authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, '{"x":1}');
    expect(bad.statusCode).toBe(400);
    const kind = await request(`${server.url}/admin/visitors/tntId/abc/forget`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(kind.statusCode).toBe(404);
    // An mbox3rdPartyId may have 256 characters (Fastify's default parameter limit was 100).
    const long = await request(`${server.url}/admin/visitors/mbox3rdPartyId/${'C'.repeat(256)}/forget`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(long.statusCode).toBe(200);
  });

  it('target-ingest forget <visitor> does the same from the command line, and never prints the id', async () => {
    // No flusher: the values stay pending.
    server = await startIntakeServer({ roles: ['map'] });
    const { running } = server;
    const keys = storeKeys(running.prefix);
    expect((await server.post([event(FORGOTTEN, 1, BASE)])).body.accepted).toBe(1);
    expect(
      await waitFor(async () => (await running.pipeline.redis.exists(keys.pending(`3p:${FORGOTTEN}`))) === 1),
    ).toBe(true);
    // And a landing-audit check of it waiting its delay: the command removes it too.
    const check = {
      vk: `3p:${FORGOTTEN}`,
      sentAt: BASE,
      route: 'single' as const,
      attributes: { tier: `000${BASE}|x` },
    };
    await running.pipeline.queues.landingAudit.add('audit single', check, { delay: 3_600_000 });
    // And a failed ingest job of its events: removed (it held nothing else).
    const failedIngest = await running.pipeline.queues.ingest.add(
      'events',
      { source: 'pos-eu', receivedAt: BASE, events: [event(FORGOTTEN, 2, BASE)] },
      { delay: 3_600_000 },
    );
    const ingestKeys = running.pipeline.queues.ingest.keys;
    if (ingestKeys.delayed === undefined || ingestKeys.failed === undefined)
      throw new Error('BullMQ queue keys changed');
    await running.pipeline.redis.zrem(ingestKeys.delayed, String(failedIngest.id));
    await running.pipeline.redis.zadd(ingestKeys.failed, Date.now(), String(failedIngest.id));
    const env = { REDIS_URL: running.config.REDIS_URL, REDIS_PREFIX: running.prefix };
    const proc = runBuilt('src/cli.js', env, ['forget', `mbox3rdPartyId:${FORGOTTEN}`, '--suppress-for-ms', '60000']);
    expect(await proc.exited).toBe(0);
    const output = proc.lines.join('\n');
    // stdout: the result as JSON; stderr (in the same lines): the audit log line.
    const json = output.slice(output.indexOf('{\n'), output.indexOf('\n}') + 2);
    const printed = JSON.parse(json) as {
      store: { pending: number };
      landingAudits: { removed: number };
      ingestJobs: { removed: number; edited: number };
      suppressedUntil: string;
    };
    expect(printed.landingAudits).toEqual({ removed: 1 });
    expect(printed.ingestJobs).toEqual({ removed: 1, edited: 0 });
    expect(await running.pipeline.queues.ingest.getFailedCount()).toBe(0);
    expect(await running.pipeline.queues.landingAudit.getDelayedCount()).toBe(0);
    expect(output).toContain('visitor forgotten');
    expect(printed.store.pending).toBe(3);
    expect(Date.parse(printed.suppressedUntil) - Date.now()).toBeLessThanOrEqual(60_000);
    expect(output).not.toContain(FORGOTTEN);
    expect(await running.pipeline.redis.exists(keys.pending(`3p:${FORGOTTEN}`))).toBe(0);
    expect(await running.pipeline.store.pendingVisitors()).toBe(0);
  });
});
