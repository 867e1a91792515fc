import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetters } from '../../../src/dlq/writer.js';
import { createProducer } from '../../../src/intake/producer.js';
import { ALL_ROLES } from '../../../src/pipeline.js';
import { OPS_ROUTES } from '../../../src/ops/routes.js';
import { newRedis } from '../../harness/context.js';
import { waitFor } from '../../harness/pipeline.js';
import { ADMIN_TOKEN, bearer, startOpsServer, type OpsServer } from './ops-server.js';

/**
 * What the dashboard (bull-board) shows after a till's batch went through, read from its JSON
 * API (`/admin/queues/api/queues`) as the board's page reads it: completed jobs kept (for a
 * bounded time and count, src/jobs/catalog.ts), named for what they carry, every queue with
 * its description, and the dead-letter queue without a "No workers" warning (no workers by
 * design). docs/operations.md, "Dashboard".
 */
const SOURCE = 'pos-eu';
const API_KEY = 'pos-eu-key-6d1f0a9c3b7e2854';
const at = (minutesAgo: number): string => new Date(Date.now() - minutesAgo * 60_000).toISOString();

interface BoardJob {
  id: string;
  name: string;
  data: unknown;
}
interface BoardQueue {
  name: string;
  description?: string;
  hasWorkers: boolean | null;
  counts: Record<string, number>;
  jobs: BoardJob[];
}

async function board(ops: OpsServer, activeQueue?: string, status?: string, jobsPerPage = 50): Promise<BoardQueue[]> {
  const query = new URLSearchParams({ jobsPerPage: String(jobsPerPage) });
  if (activeQueue !== undefined) query.set('activeQueue', activeQueue);
  if (status !== undefined) query.set('status', status);
  const response = await fetch(`${ops.url}${OPS_ROUTES.dashboard}/api/queues?${query.toString()}`, {
    headers: { authorization: bearer(ADMIN_TOKEN) },
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { queues: BoardQueue[] }).queues;
}

async function queueOf(ops: OpsServer, name: string, status?: string): Promise<BoardQueue> {
  const found = (await board(ops, name, status)).find((q) => q.name === name);
  if (found === undefined) throw new Error(`queue ${name} not on the board`);
  return found;
}

async function postEvents(ops: OpsServer, events: unknown[]): Promise<void> {
  const response = await fetch(`${ops.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  expect(response.status).toBe(202);
}

function kioskVisits(visitors: Array<{ mbox3rdPartyId: string } | { mboxPC: string }>, tag: string): unknown[] {
  return visitors.map((visitor, i) => ({
    id: `ev-${tag}-${i}`,
    type: 'kiosk_visit',
    occurredAt: at(10),
    visitor,
    data: { kioskId: `K${i}` },
  }));
}

describe('the dashboard after a batch was delivered by bulk', () => {
  let ops: OpsServer;
  let rowsApplied = 0;

  beforeAll(async () => {
    ops = await startOpsServer({
      roles: ALL_ROLES,
      env: { INGEST_API_KEYS: `${SOURCE}:${API_KEY}`, DELIVERY_MODE: 'bulk', BULK_STATUS_POLL_MS: '100' },
    });
    ops.simulator.store.onWrite((write) => {
      if (write.via === 'bulk') rowsApplied += 1;
    });
    // Five visitors of two identity kinds in one request: one claim, one bulk file per kind.
    await postEvents(
      ops,
      kioskVisits(
        [
          { mbox3rdPartyId: 'CRM-B-1' },
          { mbox3rdPartyId: 'CRM-B-2' },
          { mbox3rdPartyId: 'CRM-B-3' },
          { mboxPC: '1368007744041-575948.01_00' },
          { mboxPC: '1368007744042-575948.01_00' },
        ],
        'b',
      ),
    );
    const settled = async (): Promise<boolean> => {
      const { pending, inFlight } = await ops.pipeline.store.backlog();
      return pending === 0 && inFlight === 0;
    };
    expect(await waitFor(async () => rowsApplied === 5 && (await settled()))).toBe(true);
    expect(await waitFor(async () => (await ops.pipeline.queues.bulkStatus.getCompletedCount()) === 1)).toBe(true);
    // The status job's worker clears its visitor keys just after it completed.
    const statusCleared = async (): Promise<boolean> =>
      (await ops.pipeline.queues.bulkStatus.getCompleted()).every((j) => 'cleared' in (j.data as object));
    expect(await waitFor(statusCleared)).toBe(true);
  });
  afterAll(async () => {
    await ops?.close();
  });

  it('shows the completed jobs of every stage, named for what they carry', async () => {
    const ingest = await queueOf(ops, 'ingest', 'completed');
    expect(ingest.counts.completed).toBe(1);
    expect(ingest.jobs.map((j) => j.name)).toEqual([`events ×5 from ${SOURCE}`]);
    // What the board shows of it: the source and the count, not the events.
    expect(ingest.jobs[0]?.data).toMatchObject({ source: SOURCE, rows: [], cleared: { events: 5 } });

    const deliverBulk = await queueOf(ops, 'deliver-bulk', 'completed');
    expect(deliverBulk.counts.completed).toBe(1);
    expect(deliverBulk.jobs.map((j) => j.name)).toEqual(['bulk ×5 visitors']);
    expect(deliverBulk.jobs[0]?.data).toMatchObject({ visitors: [], cleared: { visitors: 5 } });

    const status = await queueOf(ops, 'bulk-status', 'completed');
    expect(status.counts.completed).toBe(1);
    expect(status.jobs.map((j) => j.name)).toEqual(['status of 2 batches']);
    expect(status.jobs[0]?.data).toMatchObject({ cleared: { visitors: 5 } });
    expect(JSON.stringify(status.jobs[0]?.data)).not.toMatch(/CRM-B-|1368007744/);
    // The label is the name only: the claim is still the job id and in the data.
    expect(status.jobs[0]?.id).toBe(deliverBulk.jobs[0]?.id);

    const flush = await queueOf(ops, 'flush', 'completed');
    expect(flush.counts.completed).toBeGreaterThan(0);
    expect(new Set(flush.jobs.map((j) => j.name))).toContain('flush');
  });

  it('describes every queue, and the dead-letter queue as having no workers by design, without the warning', async () => {
    const queues = await board(ops);
    expect(queues.map((q) => q.name).sort()).toEqual(
      Object.values(ops.pipeline.queues)
        .map((q) => q.name)
        .sort(),
    );
    for (const q of queues) expect(q.description, q.name).toMatch(/\w{3,}.*\./);
    const byName = new Map(queues.map((q) => [q.name, q]));
    expect(byName.get('ingest')?.description).toMatch(/Completed jobs stay for 10 minutes \(at most 100\)\./);
    expect(byName.get('deliver-single')?.description).toMatch(/Completed jobs stay for 1 hour \(at most 1,000\)\./);
    expect(byName.get('flush')?.description).toMatch(/\(at most 100\)\./);
    const deadLetter = byName.get('dead-letter');
    expect(deadLetter?.description).toMatch(/no workers by design/i);
    // bull-board warns "No workers" only for `hasWorkers: false`; the work queues have theirs.
    expect(deadLetter?.hasWorkers).toBeNull();
    for (const name of ['ingest', 'flush', 'deliver-single', 'deliver-bulk', 'bulk-status'])
      expect(byName.get(name)?.hasWorkers, name).toBe(true);
  });

  it('names a dead letter by its stage, code and size; the stage stays in its data', async () => {
    await new DeadLetters(ops.pipeline.queues.deadLetter).add({
      stage: 'deliver-single',
      source: SOURCE,
      visitors: [
        { vk: '3p:CRM-DL-1', attributes: { kioskLastVisitAt: { value: 'x', stamp: 's|e1' } } },
        { vk: '3p:CRM-DL-2', attributes: { kioskLastVisitAt: { value: 'y', stamp: 's|e2' } } },
      ],
      error: { class: 'PipelineError', code: 'TARGET_HTTP_400', message: 'bad request' },
      attempts: 1,
      firstAttemptAt: Date.now(),
      lastAttemptAt: Date.now(),
    });
    const deadLetter = await queueOf(ops, 'dead-letter', 'waiting');
    expect(deadLetter.jobs.map((j) => j.name)).toEqual(['deliver-single TARGET_HTTP_400 ×2']);
    expect((deadLetter.jobs[0]?.data as { stage?: string }).stage).toBe('deliver-single');
  });

  it('keeps at most 100 completed ingest jobs, and the flush ticks bounded too', async () => {
    const redis = newRedis(ops.config.REDIS_URL);
    const producer = createProducer({ connection: redis, prefix: ops.prefix, source: 'till-7' });
    try {
      // 110 batches of one event: 110 ingest jobs, one completed job already there.
      for (let i = 0; i < 110; i += 1) {
        const result = await producer.send(kioskVisits([{ mbox3rdPartyId: `CRM-N-${i}` }], `n${i}`)[0]);
        expect(result.status).toBe('accepted');
      }
      const ingestQueue = ops.pipeline.queues.ingest;
      expect(
        await waitFor(
          async () =>
            Object.values(await ingestQueue.getJobCounts('waiting', 'active', 'delayed')).every((n) => n === 0),
          20_000,
        ),
      ).toBe(true);
      const ingest = await queueOf(ops, 'ingest', 'completed');
      expect(ingest.counts.completed).toBe(100);
      // The newest stay: the SDK's batches, the earlier HTTP one is gone.
      expect(ingest.jobs.every((j) => j.name === 'events ×1 from till-7')).toBe(true);
      // Ticks every 50 ms here: well over 100 of them since the start, and never more than 100 kept.
      const flush = await queueOf(ops, 'flush', 'completed');
      expect(flush.counts.completed).toBeLessThanOrEqual(100);
      expect(await waitFor(async () => (await ops.pipeline.queues.flush.getCompletedCount()) === 100, 20_000)).toBe(
        true,
      );
    } finally {
      await producer.close();
      await redis.quit();
    }
  });
});

describe('the dashboard with KEEP_COMPLETED_JOBS=false, after a batch was delivered by single updates', () => {
  let ops: OpsServer;
  let written = 0;

  beforeAll(async () => {
    ops = await startOpsServer({
      roles: ALL_ROLES,
      env: { INGEST_API_KEYS: `${SOURCE}:${API_KEY}`, DELIVERY_MODE: 'single', KEEP_COMPLETED_JOBS: 'false' },
    });
    ops.simulator.store.onWrite((write) => {
      if (write.via === 'single') written += 1;
    });
    await postEvents(ops, kioskVisits([{ mbox3rdPartyId: 'CRM-S-1' }, { mbox3rdPartyId: 'CRM-S-2' }], 's'));
    expect(await waitFor(() => written === 2)).toBe(true);
  });
  afterAll(async () => {
    await ops?.close();
  });

  it('removes completed jobs as they complete, and says so', async () => {
    expect(
      await waitFor(async () =>
        Object.values(await ops.pipeline.queues.deliverSingle.getJobCounts('waiting', 'active', 'delayed')).every(
          (n) => n === 0,
        ),
      ),
    ).toBe(true);
    for (const name of ['ingest', 'deliver-single', 'flush']) {
      const q = await queueOf(ops, name, 'completed');
      expect(q.counts.completed, name).toBe(0);
      expect(q.description, name).toMatch(/Completed jobs are removed as they complete\./);
    }
  });
});
