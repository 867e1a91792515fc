import type { QueueKey } from './catalog.js';

/**
 * What a completed job keeps of its data. BullMQ keeps a completed job's data as it was
 * added; kept for a while (JOB_OPTIONS, src/jobs/catalog.ts), an ingest job would hold its
 * raw events (up to 1,000, visitor ids and private fields included) and a delivery or status
 * job the visitor keys of its claim (up to FLUSH_BULK_BATCH_SIZE). Once a job completed, its
 * worker replaces those lists by their count (src/jobs/workers.ts), so a kept job costs a
 * few hundred bytes whatever it carried, and holds no personal data beyond its source.
 * Everything else stays: source and intake time, claim id, Target's batch links and totals.
 */

/** How many entries a completed job's lists held before they were cleared. */
export type ClearedCount = { events: number } | { visitors: number };

/** A completed job's data once cleared: what it was, its lists empty, and their count. */
export type ClearedData = Record<string, unknown> & { cleared: ClearedCount };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function lengthOf(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}

/**
 * The data a completed job of `key` keeps, or undefined when there is nothing to clear: a
 * queue whose jobs carry no lists (flush ticks; dead letters never complete), data already
 * cleared, or data of a shape this version does not know (left as it is).
 */
export function clearedJobData(key: QueueKey, data: unknown): ClearedData | undefined {
  if (!isRecord(data) || 'cleared' in data) return undefined;
  switch (key) {
    case 'ingest':
      if (Array.isArray(data.rows)) return { ...data, rows: [], cleared: { events: data.rows.length } };
      if (!Array.isArray(data.events)) return undefined;
      return { ...data, events: [], cleared: { events: data.events.length } };
    case 'deliverSingle':
    case 'deliverBulk': {
      if (!Array.isArray(data.visitors)) return undefined;
      // `submitted` (batches an earlier run posted) and `answerLost` list some of the same visitors.
      const { submitted: _submitted, answerLost: _answerLost, answerLostAt: _answerLostAt, ...rest } = data;
      return { ...rest, visitors: [], cleared: { visitors: data.visitors.length } };
    }
    case 'bulkStatus': {
      if (!Array.isArray(data.batches)) return undefined;
      const batches: unknown[] = data.batches;
      const visitors = batches.reduce<number>((n, b) => n + (isRecord(b) ? lengthOf(b.visitors) : 0), 0);
      // Each batch keeps its status link (Target's batch id), submit time and poll count. The
      // totals carried between runs are left out: the return value has the final ones.
      const kept = batches.map((b) => (isRecord(b) ? { ...b, visitors: [] } : b));
      // The visitors to read back after a lost answer are visitor keys too (scheduled by then).
      const { totals: _totals, answerLost: _answerLost, answerLostAt: _answerLostAt, ...rest } = data;
      return { ...rest, batches: kept, cleared: { visitors } };
    }
    // Landing audits are removed on completion (their data names a visitor).
    case 'flush':
    case 'deadLetter':
    case 'landingAudit':
      return undefined;
  }
}
