import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_ROLES } from '../../../src/pipeline.js';
import { OPS_ROUTES } from '../../../src/ops/routes.js';
import { waitFor } from '../../harness/pipeline.js';
import { ADMIN_TOKEN, startOpsServer, type OpsServer } from './ops-server.js';
import { declaredNames, parseSamples, valueOf, type Sample } from './prometheus-text.js';
import { recordDeliveries, requestsByEndpoint, type CompletedDelivery, type Endpoint } from './target-calls.js';

const SOURCE = 'pos-eu';
const API_KEY = 'pos-key-7d1e9a0c4b2f5e8d';
const CARD = '6011000990139424';
const AGENT = 'AGENT-4711-ZZ';
const A = 'CRM-A-1001';
const B = 'CRM-B-1002';
const C = '1368007744041-575948.01_00';
const D = 'CRM-D-1004';
const E = 'CRM-E-1005';
const at = (minutesAgo: number): string => new Date(Date.now() - minutesAgo * 60_000).toISOString();

/** Every series docs/operations.md ("Metrics") describes. */
const DOCUMENTED = [
  'ti_events_received_total',
  'ti_events_accepted_total',
  'ti_source_last_event_seconds',
  'ti_events_duplicate_total',
  'ti_events_rejected_total',
  'ti_intake_backpressure_total',
  'ti_map_events_total',
  'ti_events_late_dropped_total',
  'ti_intake_to_merge_seconds',
  'ti_jobs_completed_total',
  'ti_job_attempts_failed_total',
  'ti_job_retries_total',
  'ti_jobs_failed_total',
  'ti_job_duration_seconds',
  'ti_flush_visitors',
  'ti_flush_reissued_visitors_total',
  'ti_deliveries_total',
  'ti_delivered_visitors_total',
  'ti_rerouted_visitors_total',
  'ti_target_calls_total',
  'ti_target_call_duration_seconds',
  'ti_event_to_delivered_seconds',
  'ti_intake_to_delivered_seconds',
  'ti_bulk_file_rows',
  'ti_dead_letters_total',
  'ti_queue_jobs',
  'ti_visitors_pending',
  'ti_visitors_in_flight',
  'ti_store_events',
  'ti_redis_up',
  'ti_redis_memory_bytes',
  'ti_budget_remaining',
  'ti_budget_recent_calls',
];

describe('/metrics after a small run through intake, merge, flush and delivery', () => {
  let ops: OpsServer;
  let text = '';
  let samples: Sample[] = [];
  let deliveries: CompletedDelivery[] = [];
  let requests: Record<Endpoint, number>;

  const post = async (
    events: unknown[],
  ): Promise<{ status: number; body: { accepted: number; duplicates: number; rejected: unknown[] } }> => {
    const response = await fetch(`${ops.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    return {
      status: response.status,
      body: (await response.json()) as { accepted: number; duplicates: number; rejected: unknown[] },
    };
  };
  const scrape = async (): Promise<Sample[]> => {
    const response = await fetch(`${ops.url}${OPS_ROUTES.metrics}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    text = await response.text();
    samples = parseSamples(text);
    return samples;
  };
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number | undefined> =>
    valueOf(await scrape(), name, labels);
  const settled = async (): Promise<boolean> => {
    const { pending, inFlight } = await ops.pipeline.store.backlog();
    return pending === 0 && inFlight === 0;
  };

  beforeAll(async () => {
    ops = await startOpsServer({
      roles: ALL_ROLES,
      logLevel: 'debug',
      env: { INGEST_API_KEYS: `${SOURCE}:${API_KEY}`, DELIVERY_MODE: 'single', RETRY_BASE_MS: '50' },
    });
    deliveries = recordDeliveries(ops.pipeline);
    const visitorA = { mbox3rdPartyId: A };

    // 1. Three visitors, one bad event (rejected at intake, never stored).
    const first = await post([
      {
        id: 'ev-pos-1',
        type: 'loyalty_card_used',
        occurredAt: at(30),
        visitor: visitorA,
        data: { storeId: 'S1', points: 10, cardId: CARD },
      },
      {
        id: 'ev-call-1',
        type: 'call_centre_contact',
        occurredAt: at(30),
        visitor: { mbox3rdPartyId: B },
        data: { reason: 'billing', agentId: AGENT },
      },
      { id: 'ev-kiosk-1', type: 'kiosk_visit', occurredAt: at(30), visitor: { mboxPC: C }, data: { kioskId: 'K1' } },
      {
        id: 'ev-loan-bad',
        type: 'loan_funded',
        occurredAt: at(30),
        visitor: visitorA,
        data: { loanId: 'L1', amount: '12,50' },
      },
    ]);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ accepted: 3, duplicates: 0 });
    expect(await waitFor(async () => ops.simulator.store.get('pcId', C) !== undefined && (await settled()))).toBe(true);

    // 2. Target throttles once: the delivery job retries and then lands.
    ops.simulator.faults.failNext(1, 503);
    expect(
      (
        await post([
          {
            id: 'ev-kiosk-2',
            type: 'kiosk_visit',
            occurredAt: at(20),
            visitor: { mbox3rdPartyId: D },
            data: { kioskId: 'K2' },
          },
        ])
      ).status,
    ).toBe(202);
    expect(
      await waitFor(async () => ops.simulator.store.get('thirdPartyId', D) !== undefined && (await settled())),
    ).toBe(true);

    // 3. Target refuses once: that visitor's update is dead-lettered.
    ops.simulator.faults.failNext(1, 400);
    expect(
      (
        await post([
          {
            id: 'ev-kiosk-3',
            type: 'kiosk_visit',
            occurredAt: at(20),
            visitor: { mbox3rdPartyId: E },
            data: { kioskId: 'K3' },
          },
        ])
      ).status,
    ).toBe(202);
    expect(
      await waitFor(
        async () => (await ops.pipeline.queues.deadLetter.getJobCounts()).waiting === 1 && (await settled()),
      ),
    ).toBe(true);

    // 4. An offline event older than what Target holds for A: dropped as late.
    expect(
      (
        await post([
          {
            id: 'ev-pos-0',
            type: 'loyalty_card_used',
            occurredAt: at(90),
            visitor: visitorA,
            data: { storeId: 'S0', points: 1 },
          },
        ])
      ).status,
    ).toBe(202);
    // 5. A resend of an id already taken in.
    const resend = await post([
      {
        id: 'ev-call-1',
        type: 'call_centre_contact',
        occurredAt: at(30),
        visitor: { mbox3rdPartyId: B },
        data: { reason: 'billing' },
      },
    ]);
    expect(resend.body).toMatchObject({ accepted: 0, duplicates: 1 });

    // Counters move on BullMQ events, just after the state in Redis: wait for the last ones.
    // E's job is the last to complete, with nothing delivered.
    expect(
      await waitFor(
        async () =>
          (await metric('ti_events_late_dropped_total', { source: SOURCE })) === 1 &&
          (await metric('ti_dead_letters_total', { stage: 'deliver-single', code: 'TARGET_HTTP_400' })) === 1,
      ),
    ).toBe(true);
    expect(
      await waitFor(
        async () =>
          deliveries.some((d) => d.delivered === 0) &&
          (await metric('ti_deliveries_total', { mode: 'single', outcome: 'completed' })) === deliveries.length,
      ),
    ).toBe(true);
    await scrape();
    requests = requestsByEndpoint(ops.simulator);
  });
  afterAll(async () => {
    await ops.close();
  });

  it('declares every documented series', () => {
    const names = declaredNames(text);
    for (const name of DOCUMENTED) expect(names.has(name), name).toBe(true);
  });

  it('counts intake as the producer saw it', () => {
    expect(valueOf(samples, 'ti_events_received_total', { source: SOURCE })).toBe(8);
    expect(valueOf(samples, 'ti_events_accepted_total', { source: SOURCE })).toBe(6);
    expect(valueOf(samples, 'ti_events_duplicate_total', { source: SOURCE })).toBe(1);
    expect(valueOf(samples, 'ti_events_rejected_total', { source: SOURCE, reason: 'data.amount' })).toBe(1);
    // Unix seconds of the last request with an accepted event: within this run.
    const last = valueOf(samples, 'ti_source_last_event_seconds', { source: SOURCE });
    expect(last).toBeGreaterThan(Date.now() / 1000 - 300);
    expect(last).toBeLessThanOrEqual(Date.now() / 1000);
  });

  it('counts merge outcomes, late events and the lag from intake to merge', () => {
    expect(valueOf(samples, 'ti_map_events_total', { source: SOURCE, outcome: 'applied' })).toBe(5);
    expect(valueOf(samples, 'ti_map_events_total', { source: SOURCE, outcome: 'late' })).toBe(1);
    expect(valueOf(samples, 'ti_events_late_dropped_total', { source: SOURCE })).toBe(1);
    expect(valueOf(samples, 'ti_intake_to_merge_seconds_count')).toBe(4);
    expect(valueOf(samples, 'ti_store_events', { outcome: 'applied' })).toBe(5);
    expect(valueOf(samples, 'ti_store_events', { outcome: 'late_dropped' })).toBe(1);
  });

  it('counts deliveries, retries and dead letters', () => {
    expect(valueOf(samples, 'ti_delivered_visitors_total', { mode: 'single' })).toBe(4);
    expect(valueOf(samples, 'ti_deliveries_total', { mode: 'single', outcome: 'retry' })).toBe(1);
    // A, B and C may share a job or not; D's job completes on its retry, E's with nothing delivered.
    expect(deliveries.length).toBeGreaterThanOrEqual(3);
    expect(valueOf(samples, 'ti_deliveries_total', { mode: 'single', outcome: 'completed' })).toBe(deliveries.length);
    expect(valueOf(samples, 'ti_job_retries_total', { queue: 'deliver-single' })).toBe(1);
    expect(valueOf(samples, 'ti_job_attempts_failed_total', { queue: 'deliver-single', code: 'TARGET_HTTP_503' })).toBe(
      1,
    );
    expect(valueOf(samples, 'ti_jobs_failed_total', { queue: 'deliver-single' })).toBeUndefined();
    expect(valueOf(samples, 'ti_dead_letters_total', { stage: 'deliver-single', code: 'TARGET_HTTP_400' })).toBe(1);
    expect(valueOf(samples, 'ti_flush_visitors_sum')).toBe(5);
  });

  it('observes the lags of every delivery that delivered something', () => {
    const delivering = deliveries.filter((d) => d.delivered > 0).length;
    expect(delivering).toBe(deliveries.length - 1);
    expect(valueOf(samples, 'ti_event_to_delivered_seconds_count', { mode: 'single' })).toBe(delivering);
    // Every delivered event happened 20 or 30 minutes before the run.
    expect(valueOf(samples, 'ti_event_to_delivered_seconds_sum', { mode: 'single' })).toBeGreaterThan(
      delivering * 20 * 60,
    );
    expect(valueOf(samples, 'ti_intake_to_delivered_seconds_count', { mode: 'single' })).toBe(delivering);
    // No value is delivered before its coalescing window (COALESCE_WINDOW_MS) has passed.
    const intakeLag = valueOf(samples, 'ti_intake_to_delivered_seconds_sum', { mode: 'single' }) ?? 0;
    expect(intakeLag).toBeGreaterThanOrEqual((delivering * ops.config.COALESCE_WINDOW_MS) / 1000);
    expect(intakeLag).toBeLessThan(delivering * 60);
  });

  it('counts every successful Target call, also when calls run in parallel within a job', () => {
    // A, B and C may share one delivery job whose calls run concurrently; D and E alone.
    expect(ops.simulator.stats.single).toBe(4);
    expect(valueOf(samples, 'ti_target_calls_total', { endpoint: 'single' })).toBe(ops.simulator.stats.single);
    for (const endpoint of ['bulk', 'status', 'fetch'])
      expect(valueOf(samples, 'ti_target_calls_total', { endpoint }), endpoint).toBeUndefined();
  });

  it('times every call to Target per endpoint, the refused ones included', () => {
    // The four accepted updates, the one answered 503 and the one answered 400.
    expect(requests).toEqual({ single: 6, bulk: 0, status: 0, fetch: 0 });
    expect(valueOf(samples, 'ti_target_call_duration_seconds_count', { endpoint: 'single' })).toBe(requests.single);
    expect(valueOf(samples, 'ti_target_call_duration_seconds_sum', { endpoint: 'single' })).toBeGreaterThan(0);
    for (const endpoint of ['bulk', 'status', 'fetch'])
      expect(valueOf(samples, 'ti_target_call_duration_seconds_count', { endpoint }), endpoint).toBeUndefined();
  });

  it('reads queue sizes, visitors and Redis from Redis at scrape time', () => {
    expect(valueOf(samples, 'ti_queue_jobs', { queue: 'dead-letter', state: 'waiting' })).toBe(1);
    for (const queue of Object.values(ops.pipeline.queues)) {
      expect(valueOf(samples, 'ti_queue_jobs', { queue: queue.name, state: 'active' }), queue.name).toBeDefined();
    }
    expect(valueOf(samples, 'ti_visitors_pending')).toBe(0);
    expect(valueOf(samples, 'ti_visitors_in_flight')).toBe(0);
    expect(valueOf(samples, 'ti_redis_up')).toBe(1);
    expect(valueOf(samples, 'ti_redis_memory_bytes', { kind: 'used' })).toBeGreaterThan(0);
    // Every single call takes one from the budget, refused ones too (Target may count them).
    expect(valueOf(samples, 'ti_budget_remaining', { budget: 'single' })).toBe(
      ops.config.SINGLE_DAILY_BUDGET - requests.single,
    );
    expect(valueOf(samples, 'ti_budget_recent_calls', { budget: 'single' })).toBe(requests.single);
    expect(valueOf(samples, 'ti_budget_remaining', { budget: 'bulk' })).toBe(ops.config.BULK_CALLS_PER_MINUTE);
    expect(valueOf(samples, 'ti_budget_recent_calls', { budget: 'bulk' })).toBe(0);
  });

  it('keeps labels bounded: no visitor ids, event ids, card numbers or tokens anywhere', () => {
    const forbidden = [
      A,
      B,
      C,
      D,
      E,
      'ev-pos-1',
      'ev-call-1',
      'ev-kiosk',
      'ev-loan-bad',
      CARD,
      AGENT,
      API_KEY,
      ADMIN_TOKEN,
    ];
    for (const sample of samples) {
      for (const value of Object.values(sample.labels)) {
        for (const id of forbidden) expect(value, `${sample.name} ${JSON.stringify(sample.labels)}`).not.toContain(id);
      }
    }
    for (const secret of [CARD, AGENT, API_KEY, ADMIN_TOKEN]) expect(text).not.toContain(secret);
  });
  it('logs each map and delivery job with its own child logger: queue, job id and attempt', () => {
    const lines = ops.logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const merged = lines.filter((l) => l.msg === 'merged batch');
    expect(merged).toHaveLength(4);
    for (const line of merged)
      expect(line).toMatchObject({
        role: 'map',
        queue: 'ingest',
        jobId: expect.any(String) as unknown,
        attempt: 1,
        source: SOURCE,
      });
    const delivered = lines.filter((l) => l.msg === 'single delivery');
    expect(delivered.map((l) => l.attempt).sort()).toEqual([...deliveries.map(() => 1), 2].sort());
    for (const line of delivered)
      expect(line).toMatchObject({ queue: 'deliver-single', jobId: expect.any(String) as unknown });
  });
  // What the logs of such a run hold is checked in log-secrets.test.ts, against an
  // unredacted copy of the same log calls.
});
