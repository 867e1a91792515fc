import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_ROLES } from '../../../src/pipeline.js';
import { OPS_ROUTES } from '../../../src/ops/routes.js';
import { waitFor } from '../../harness/pipeline.js';
import { startOpsServer, type OpsServer } from './ops-server.js';
import { parseSamples, valueOf, type Sample } from './prometheus-text.js';
import { recordDeliveries, requestsByEndpoint, type CompletedDelivery, type Endpoint } from './target-calls.js';

const SOURCE = 'kiosks';
const API_KEY = 'kiosk-key-3b8f0d6e2a4c1957';
const CRM = ['CRM-BULK-1', 'CRM-BULK-2', 'CRM-BULK-3'];
const PC = ['1368007744041-575948.01_00', '1368007744042-575948.01_00'];
const at = (minutesAgo: number): string => new Date(Date.now() - minutesAgo * 60_000).toISOString();

describe('/metrics after a small run in bulk mode', () => {
  let ops: OpsServer;
  let samples: Sample[] = [];
  let deliveries: CompletedDelivery[] = [];
  let requests: Record<Endpoint, number>;
  let rowsApplied = 0;

  const scrape = async (): Promise<Sample[]> => {
    const response = await fetch(`${ops.url}${OPS_ROUTES.metrics}`);
    expect(response.status).toBe(200);
    samples = parseSamples(await response.text());
    return samples;
  };
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number | undefined> =>
    valueOf(await scrape(), name, labels);

  beforeAll(async () => {
    ops = await startOpsServer({
      roles: ALL_ROLES,
      env: { INGEST_API_KEYS: `${SOURCE}:${API_KEY}`, DELIVERY_MODE: 'bulk', BULK_STATUS_POLL_MS: '100' },
    });
    deliveries = recordDeliveries(ops.pipeline);
    ops.simulator.store.onWrite((write) => {
      if (write.via === 'bulk') rowsApplied += 1;
    });
    // Five visitors of two identity kinds in one request: one claim, one bulk file per kind.
    const events = [
      ...CRM.map((id, i) => ({
        id: `ev-crm-${i}`,
        type: 'kiosk_visit',
        occurredAt: at(10),
        visitor: { mbox3rdPartyId: id },
        data: { kioskId: `K${i}` },
      })),
      ...PC.map((id, i) => ({
        id: `ev-pc-${i}`,
        type: 'kiosk_visit',
        occurredAt: at(10),
        visitor: { mboxPC: id },
        data: { kioskId: `P${i}` },
      })),
    ];
    const response = await fetch(`${ops.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    expect(response.status).toBe(202);
    const settled = async (): Promise<boolean> => {
      const { pending, inFlight } = await ops.pipeline.store.backlog();
      return pending === 0 && inFlight === 0;
    };
    expect(await waitFor(async () => rowsApplied === 5 && (await settled()))).toBe(true);
    // The status poll that acked the rows reports its call just after the simulator counted it.
    expect(
      await waitFor(
        async () =>
          (await metric('ti_target_calls_total', { endpoint: 'status' })) === ops.simulator.stats.status &&
          deliveries.length > 0,
      ),
    ).toBe(true);
    await scrape();
    requests = requestsByEndpoint(ops.simulator);
  });
  afterAll(async () => {
    await ops.close();
  });

  it('observes the rows of every bulk file Target received', () => {
    // The CRM ids in a v2 file, the visitor ids in a v1 file (BULK_PCID_ROUTE=v1, the ECID default).
    expect(ops.simulator.stats.bulk).toBe(1);
    expect(ops.simulator.stats.bulkV1).toBe(1);
    expect(valueOf(samples, 'ti_bulk_file_rows_count')).toBe(2);
    expect(valueOf(samples, 'ti_bulk_file_rows_sum')).toBe(rowsApplied);
    // One file of three CRM ids, one of two visitor ids.
    expect(valueOf(samples, 'ti_bulk_file_rows_bucket', { le: '1' })).toBe(0);
    expect(valueOf(samples, 'ti_bulk_file_rows_bucket', { le: '5' })).toBe(2);
  });

  it('counts the rows Target reported for the complete batches, by outcome', async () => {
    expect(
      await waitFor(async () => (await metric('ti_bulk_rows_total', { outcome: 'successful' })) === rowsApplied),
    ).toBe(true);
    expect(rowsApplied).toBe(5);
    expect(valueOf(samples, 'ti_bulk_rows_total', { outcome: 'failed' })).toBeUndefined();
    expect(valueOf(samples, 'ti_bulk_rows_total', { outcome: 'profile_not_found' })).toBeUndefined();
  });

  it('counts bulk and status calls by their own endpoint, and times each of them', () => {
    expect(requests.single).toBe(0);
    expect(requests.fetch).toBe(0);
    expect(requests.status).toBeGreaterThanOrEqual(2);
    expect(valueOf(samples, 'ti_target_calls_total', { endpoint: 'bulk' })).toBe(
      ops.simulator.stats.bulk + ops.simulator.stats.bulkV1,
    );
    expect(valueOf(samples, 'ti_target_calls_total', { endpoint: 'status' })).toBe(ops.simulator.stats.status);
    expect(valueOf(samples, 'ti_target_calls_total', { endpoint: 'single' })).toBeUndefined();
    for (const endpoint of ['bulk', 'status'] as const) {
      expect(valueOf(samples, 'ti_target_call_duration_seconds_count', { endpoint }), endpoint).toBe(
        requests[endpoint],
      );
    }
    expect(valueOf(samples, 'ti_target_call_duration_seconds_count', { endpoint: 'single' })).toBeUndefined();
  });

  it('reports the bulk budget: every bulk and status call of the last minute', () => {
    const made = requests.bulk + requests.status;
    expect(valueOf(samples, 'ti_budget_recent_calls', { budget: 'bulk' })).toBe(made);
    expect(valueOf(samples, 'ti_budget_remaining', { budget: 'bulk' })).toBe(ops.config.BULK_CALLS_PER_MINUTE - made);
    expect(valueOf(samples, 'ti_budget_remaining', { budget: 'single' })).toBe(ops.config.SINGLE_DAILY_BUDGET);
  });

  it('counts the bulk delivery and observes its lag from intake', () => {
    const delivering = deliveries.filter((d) => d.delivered > 0).length;
    expect(deliveries).toEqual([{ queue: 'deliver-bulk', delivered: 5 }]);
    expect(valueOf(samples, 'ti_deliveries_total', { mode: 'bulk', outcome: 'completed' })).toBe(deliveries.length);
    expect(valueOf(samples, 'ti_delivered_visitors_total', { mode: 'bulk' })).toBe(5);
    expect(valueOf(samples, 'ti_intake_to_delivered_seconds_count', { mode: 'bulk' })).toBe(delivering);
    const lag = valueOf(samples, 'ti_intake_to_delivered_seconds_sum', { mode: 'bulk' }) ?? 0;
    expect(lag).toBeGreaterThanOrEqual(ops.config.COALESCE_WINDOW_MS / 1000);
    expect(lag).toBeLessThan(60);
    expect(valueOf(samples, 'ti_event_to_delivered_seconds_sum', { mode: 'bulk' })).toBeGreaterThan(10 * 60);
  });
});
