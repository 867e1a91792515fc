import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '../../../src/intake/producer.js';
import { createLogger } from '../../../src/logger.js';
import { Metrics } from '../../../src/metrics/metrics.js';
import { watchPipeline } from '../../../src/metrics/pipeline-events.js';
import type { SimulatorOptions } from '../../../src/simulator/server.js';
import { deletePrefix, newRedis } from '../../harness/context.js';
import { startTestPipeline, waitFor, type TestPipeline } from '../../harness/pipeline.js';

/**
 * The landing audit (docs/operations.md#landing-audit): Target accepts a bulk file, reports
 * every row successful, and one row never lands (Adobe: up to 0.1% may not). The audit reads
 * the sampled visitors back after LANDING_AUDIT_DELAY_MS, counts what it finds in
 * `ti_landing_audit_total`, and the pipeline delivers the missing values again.
 */
interface Running extends TestPipeline {
  metrics: Metrics;
  logs: Array<Record<string, unknown>>;
  stop: () => void;
}

let redis: Redis;
const running: Running[] = [];

beforeAll(() => {
  redis = newRedis();
});
afterEach(async () => {
  for (const r of running.splice(0)) {
    r.stop();
    await r.close();
    await deletePrefix(redis, r.prefix);
  }
});
afterAll(async () => {
  await redis.quit();
});

async function start(env: Record<string, string>, simulator: Partial<SimulatorOptions> = {}): Promise<Running> {
  const logs: Array<Record<string, unknown>> = [];
  const destination = { write: (line: string): void => void logs.push(JSON.parse(line) as Record<string, unknown>) };
  const started = await startTestPipeline(
    {
      COALESCE_WINDOW_MS: '100',
      COALESCE_MAX_WAIT_MS: '500',
      // Every accepted delivery is read back, 200 ms after Target accepted it.
      LANDING_AUDIT_SAMPLE: '1',
      LANDING_AUDIT_DELAY_MS: '200',
      LOG_LEVEL: 'info',
      ...env,
    },
    undefined,
    { batchProcessingMs: 300, ...simulator },
    createLogger({ level: 'info', pretty: false, destination }),
  );
  const metrics = new Metrics({ defaultMetrics: false });
  const r = { ...started, metrics, logs, stop: watchPipeline(metrics, started.pipeline) };
  running.push(r);
  return r;
}

/** One call-centre event per visitor (three attributes each). */
async function send(r: Running, visitors: string[], id = 'e'): Promise<void> {
  const producer = createProducer({ connection: redis, prefix: r.prefix, source: 'test' });
  const events = visitors.map((visitor, i) => ({
    id: `${id}-${i}`,
    type: 'call_centre_contact',
    occurredAt: '2026-11-21T10:00:00Z',
    visitor: { mbox3rdPartyId: visitor },
    data: { reason: `reason ${i}`, outcome: 'solved' },
  }));
  expect((await producer.sendMany(events)).accepted).toBe(visitors.length);
  await producer.close();
}

/** A call-centre contact of this visitor: event id, minute past 10:00, outcome. */
function contactOf(visitor: string) {
  return (id: string, minute: number, outcome: string) => ({
    id,
    type: 'call_centre_contact',
    occurredAt: `2026-11-21T10:0${minute}:00Z`,
    visitor: { mbox3rdPartyId: visitor },
    data: { reason: 'card lost', outcome },
  });
}

/** The `check` labels of ti_landing_audit_total seen so far. */
async function checks(r: Running): Promise<string[]> {
  return [...new Set((await r.metrics.landingAudit.get()).values.map((v) => String(v.labels.check)))].sort();
}

async function audited(r: Running): Promise<Record<string, number>> {
  const out: Record<string, number> = { match: 0, missing: 0, different: 0 };
  for (const { labels, value } of (await r.metrics.landingAudit.get()).values)
    out[String(labels.result)] = (out[String(labels.result)] ?? 0) + value;
  return out;
}

const EXPECTED = { callCentreLastReason: 'reason 0', callCentreLastOutcome: 'solved' };

describe('landing audit', () => {
  it('finds a bulk row Target reported successful but never stored, counts it missing, and delivers it again', async () => {
    const r = await start({ DELIVERY_MODE: 'bulk' });
    r.simulator.faults.loseBulkRow('CRM-LOST');
    await send(r, ['CRM-LOST', 'CRM-KEPT']);

    // The lost row lands only because the audit sent it again.
    expect(
      await waitFor(() => r.simulator.store.get('thirdPartyId', 'CRM-LOST')?.callCentreLastOutcome === 'solved'),
    ).toBe(true);
    expect(r.simulator.store.get('thirdPartyId', 'CRM-LOST')).toMatchObject(EXPECTED);
    expect(r.simulator.stats.lostRows).toBe(1);
    // The first batch said every row was fine: only the read-back knew.
    expect(r.simulator.stats.failedRows).toBe(0);
    // CRM-KEPT: three attributes matched; CRM-LOST: three missing, then, sent again, three matched.
    expect(await waitFor(async () => (await audited(r)).match === 6)).toBe(true);
    expect(await audited(r)).toEqual({ match: 6, missing: 3, different: 0 });
    expect(await checks(r)).toEqual(['sampled']);
    expect(r.simulator.stats.fetch).toBeGreaterThanOrEqual(2);
    // Sent again by bulk: a second file after the first.
    expect(r.simulator.stats.bulk).toBeGreaterThanOrEqual(2);

    const warned = r.logs.filter((l) => l.msg === 'landing audit: values Target accepted are not in its profile');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ missing: 3, resent: 3, route: 'bulk', profileFound: false });
    // Values and visitor ids stay out of the log.
    expect(JSON.stringify(r.logs)).not.toContain('reason 0');
    expect(JSON.stringify(warned)).not.toContain('CRM-LOST');
    // The visitor's delivery log shows the finding next to its deliveries.
    const deliveries = await r.pipeline.store.deliveryLog.read('3p:CRM-LOST', 0);
    expect(deliveries.some((d) => d.answer === 'failed' && /landing audit/.test(d.detail ?? ''))).toBe(true);
    expect(await r.pipeline.queues.deadLetter.count()).toBe(0);
  });

  it('holds while Target refuses our credentials to the fetch, then checks (P10: held, never failed)', async () => {
    const r = await start({ DELIVERY_MODE: 'single' });
    r.simulator.faults.failNext(1, 401, { endpoint: 'fetch' });
    await send(r, ['CRM-HELD']);
    expect(await waitFor(async () => (await audited(r)).match === 3, 20_000)).toBe(true);
    expect(await audited(r)).toEqual({ match: 3, missing: 0, different: 0 });
    expect(r.logs.some((l) => String(l.msg).startsWith('Target refused our credentials (HTTP 401)'))).toBe(true);
    expect(await r.pipeline.queues.landingAudit.getFailedCount()).toBe(0);
    expect(await r.pipeline.queues.deadLetter.count()).toBe(0);
  });

  it('with LANDING_AUDIT_SAMPLE=0 reads nothing back', async () => {
    const r = await start({ DELIVERY_MODE: 'single', LANDING_AUDIT_SAMPLE: '0' });
    await send(r, ['CRM-UNSAMPLED']);
    expect(await waitFor(() => r.simulator.store.get('thirdPartyId', 'CRM-UNSAMPLED') !== undefined)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await r.pipeline.queues.landingAudit.count()).toBe(0);
    expect(r.simulator.stats.fetch).toBe(0);
    expect(await audited(r)).toEqual({ match: 0, missing: 0, different: 0 });
  });
  it('repairs a value overwritten by an earlier call whose answer was lost and that Target applied late (P4)', async () => {
    // No sampling: only the visitor whose call timed out is read back.
    const r = await start({
      DELIVERY_MODE: 'single',
      TARGET_TIMEOUT_MS: '1000',
      LANDING_AUDIT_SAMPLE: '0',
      LANDING_AUDIT_DELAY_MS: '1500',
    });
    const producer = createProducer({ connection: redis, prefix: r.prefix, source: 'test' });
    const contact = contactOf('CRM-SLOW');
    // The first call takes 2.5 s at Target, which applies it although we gave up after 1 s.
    r.simulator.faults.slowVisitor('CRM-SLOW', 2500);
    await producer.sendMany([contact('c-1', 1, 'escalated')]);
    // Once it is at Target (its values read, its delay taken), later calls are fast again.
    expect(await waitFor(() => r.simulator.stats.singleArrived >= 1, 5000, 5)).toBe(true);
    r.simulator.faults.slowVisitor('CRM-SLOW', 0);
    // A newer event: the retry carries it and lands first, then the first call lands on top.
    await producer.sendMany([contact('c-2', 2, 'solved')]);
    await producer.close();
    const outcome = () => r.simulator.store.get('thirdPartyId', 'CRM-SLOW')?.callCentreLastOutcome;
    expect(await waitFor(() => outcome() === 'solved', 10_000)).toBe(true);
    expect(await waitFor(() => outcome() === 'escalated', 10_000)).toBe(true);
    // The read-back after the lost answer finds the older value and sends the newer one again.
    expect(await waitFor(() => outcome() === 'solved', 15_000)).toBe(true);
    expect(await waitFor(async () => ((await audited(r)).different ?? 0) >= 1, 5000)).toBe(true);
  });
  it('repairs a value overwritten by a bulk batch whose submit answer was lost and that Target processed late (P4)', async () => {
    // No sampling: only the visitor whose file's answer was lost is read back, 8 s after the
    // retry's batch completed, which is after the lost batch lands (8 s after its submit).
    const r = await start({
      DELIVERY_MODE: 'bulk',
      TARGET_TIMEOUT_MS: '1000',
      LANDING_AUDIT_SAMPLE: '0',
      LANDING_AUDIT_DELAY_MS: '8000',
    });
    const producer = createProducer({ connection: redis, prefix: r.prefix, source: 'test' });
    const contact = (id: string, minute: number, data: { reason: string; outcome?: string }) => ({
      id,
      type: 'call_centre_contact',
      occurredAt: `2026-11-21T10:0${minute}:00Z`,
      visitor: { mbox3rdPartyId: 'CRM-LATE' },
      data,
    });
    const profile = () => r.simulator.store.get('thirdPartyId', 'CRM-LATE');
    const outcome = () => profile()?.callCentreLastOutcome;
    await producer.sendMany([contact('c-0', 0, { reason: 'card lost', outcome: 'open' })]);
    expect(await waitFor(() => outcome() === 'open', 10_000)).toBe(true);
    // Target takes the next file and processes it in 8 s, but answers after 1.5 s: we gave
    // up after 1 s, and the retry's file lands long before the first. The event changes the
    // reason only; its row also carries the outcome delivered before (every v2 row carries
    // every delivered value, docs/target.md), and that is what the lost file sets back.
    r.simulator.faults.answerBatchesLate(1, { answerAfterMs: 1500, processingMs: 8000 });
    await producer.sendMany([contact('c-1', 1, { reason: 'card stolen' })]);
    expect(await waitFor(() => profile()?.callCentreLastReason === 'card stolen', 10_000)).toBe(true);
    // A newer outcome goes in a later batch and lands while the lost file is still processing.
    // Same time, greater id (newer by P3's tie-break): the lost file's other values, reason
    // and contact time, are the current ones, so only the outcome shows what it did.
    await producer.sendMany([contact('c-2', 1, { reason: 'card stolen', outcome: 'solved' })]);
    await producer.close();
    expect(await waitFor(() => outcome() === 'solved', 10_000)).toBe(true);
    expect(r.simulator.batches.pending).toBe(1);
    // The lost file lands on top, with the older outcome (Adobe documents nothing against it).
    expect(await waitFor(() => outcome() === 'open', 10_000)).toBe(true);
    // The read-back after the lost answer judges every delivered attribute, not only those
    // the lost claim changed: it finds the older outcome and sends the newer one again.
    expect(await waitFor(() => outcome() === 'solved', 15_000)).toBe(true);
    expect(await waitFor(async () => ((await audited(r)).different ?? 0) >= 1, 5000)).toBe(true);
    // Counted apart from the sample, which alone the misses alert judges.
    expect(await checks(r)).toEqual(['lost_answer']);
    expect(profile()?.callCentreLastReason).toBe('card stolen');
    // A second read-back waits for the end of Adobe's 24 hours (and an hour) after the lost submit.
    const later = await r.pipeline.queues.landingAudit.getDelayed();
    expect(later.map((j) => ('recheck' in j.data ? j.data.recheck : j.data))).toEqual([['3p:CRM-LATE']]);
    expect(later[0]?.opts.delay).toBeGreaterThan(24 * 3600_000);
  });
  it('reads back a visitor whose single call lost its answer, after the single budget ran out and bulk delivered it', async () => {
    // One single call a day: the first (an mboxPC, known to Target, so auto mode sends it
    // by single update) is dropped, its answer lost; the retry finds the budget spent and
    // hands the visitor to bulk, mark and all.
    const r = await start({
      DELIVERY_MODE: 'auto',
      SINGLE_DAILY_BUDGET: '1',
      BULK_PCID_ROUTE: 'v2',
      LANDING_AUDIT_SAMPLE: '0',
    });
    r.simulator.faults.dropConnections(1);
    const producer = createProducer({ connection: redis, prefix: r.prefix, source: 'test' });
    await producer.sendMany([
      {
        id: 'h-1',
        type: 'call_centre_contact',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mboxPC: '1700000000000-123456.34_0' },
        data: { reason: 'card lost', outcome: 'solved' },
      },
    ]);
    await producer.close();
    expect(await waitFor(() => r.simulator.store.get('pcId', '1700000000000-123456.34_0') !== undefined, 20_000)).toBe(
      true,
    );
    expect(r.simulator.stats.dropped).toBe(1);
    expect(r.simulator.stats.bulk).toBe(1);
    expect(r.logs.some((l) => l.msg === 'single budget spent: handed the claim to bulk delivery')).toBe(true);
    // No sampling: the only read-back is the one after the lost answer.
    expect(await waitFor(() => r.simulator.stats.fetch >= 1, 10_000)).toBe(true);
    // Counted once the check's job is done, a moment after its Fetch call.
    expect(await waitFor(async () => (await checks(r)).length > 0, 5000)).toBe(true);
    expect(await checks(r)).toEqual(['lost_answer']);
  });
  it('reads back a visitor whose answer was lost even when a 401 held the delivery in the same run', async () => {
    const r = await start({ DELIVERY_MODE: 'single', LANDING_AUDIT_SAMPLE: '0' });
    // One call of the claim loses its connection (its answer is lost), the other is refused
    // with a 401: the job is held, and must still remember the first visitor.
    r.simulator.faults.dropConnections(1);
    r.simulator.faults.failNext(1, 401, { endpoint: 'single' });
    await send(r, ['CRM-A', 'CRM-B']);
    const landed = () => ['CRM-A', 'CRM-B'].every((v) => r.simulator.store.get('thirdPartyId', v) !== undefined);
    expect(await waitFor(landed, 30_000)).toBe(true);
    // No sampling: the only read-back is the one after the lost answer.
    expect(await waitFor(() => r.simulator.stats.fetch === 1, 10_000)).toBe(true);
  });
});
