/**
 * Seeded benchmark workloads W1–W4 (docs/performance.md). A workload is a deterministic stream of valid
 * events: event `seq` n happens at `baseMs + n` ms, so event time grows with `seq` and the
 * `…At` attribute Target ends up holding tells which event it came from (see tracker.ts).
 * Events are produced batch by batch, never held all at once (1,000,000 of them would cost
 * hundreds of MB in the process that also runs the producer and the simulator).
 */
import { Random } from '../test/harness/workload.js';

export { Random };

export type WorkloadName = 'W1' | 'W2' | 'W3' | 'W4';

/** How a workload picks visitors, and how fast its batches are released. */
export interface WorkloadSpec {
  name: WorkloadName;
  title: string;
  events: number;
  visitors: number;
  seed: number;
  pick: 'zipf' | 'uniform' | 'hot';
  /** Pacing: as fast as intake takes it, a steady rate, or bursts of 10x a steady rate. */
  pace: { kind: 'max' } | { kind: 'steady'; eventsPerSecond: number } | { kind: 'bursts'; eventsPerSecond: number };
}

export const VISITORS = 100_000;
export const EVENT_TYPES = ['loyalty_card_used', 'kiosk_visit', 'call_centre_contact', 'loan_funded'] as const;
/** The attribute each type always sets from `occurredAt`: it identifies the event at Target. */
export const TIME_ATTRIBUTES = [
  'loyaltyLastUsedAt',
  'kioskLastVisitAt',
  'callCentreLastContactAt',
  'loanLastFundedAt',
] as const;
// Cumulative type mix: loyalty 40 %, kiosk 30 %, call centre 20 %, loans 10 %.
const TYPE_CDF = [0.4, 0.7, 0.9, 1];

/** Cumulative distribution of Zipf(s) over ranks 1..n, for inverse-transform sampling. */
export function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k += 1) {
    sum += 1 / k ** s;
    cdf[k - 1] = sum;
  }
  for (let k = 0; k < n; k += 1) cdf[k] = (cdf[k] ?? 0) / sum;
  return cdf;
}

/** Index of the first CDF entry ≥ u (binary search): a rank 0..n-1. */
export function sampleCdf(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((cdf[mid] ?? 1) < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A visitor chooser for a spec: returns a visitor index 0..visitors-1. */
export function visitorPicker(spec: Pick<WorkloadSpec, 'pick' | 'visitors'>, r: Random): () => number {
  switch (spec.pick) {
    case 'zipf': {
      const cdf = zipfCdf(spec.visitors, 1.0);
      return () => sampleCdf(cdf, r.next());
    }
    case 'uniform':
      return () => r.int(0, spec.visitors - 1);
    case 'hot':
      // Visitor 0 gets 10 % of all events; the rest spread evenly over the others.
      return () => (r.chance(0.1) ? 0 : r.int(1, spec.visitors - 1));
  }
}

/** Visitor key as the simulator's `store.all()` names it; one in ten visitors is an mboxPC. */
export function visitorIdentity(index: number): { mboxPC: string } | { mbox3rdPartyId: string } {
  return index % 10 === 9
    ? { mboxPC: `${1_368_007_744_041 + index}-575948.01_00` }
    : { mbox3rdPartyId: `CRM-${index}` };
}

/** The inverse of {@link visitorIdentity} on a simulator profile id (either kind). */
export function visitorIndexOf(id: string): number {
  if (id.startsWith('CRM-')) return Number(id.slice(4));
  return Number(id.slice(0, id.indexOf('-'))) - 1_368_007_744_041;
}

export interface EventBatch {
  /** seq of the first event; the batch holds seq first..first+events.length-1. */
  first: number;
  events: unknown[];
  /** Per event: its visitor index and its type index (into EVENT_TYPES). */
  visitors: Int32Array;
  types: Uint8Array;
}

function dataFor(type: number, n: number, r: Random): Record<string, unknown> {
  switch (type) {
    case 0:
      return {
        storeId: `S${r.int(1, 500)}`,
        points: r.int(0, 5000),
        tier: r.pick(['bronze', 'silver', 'gold', 'platinum']),
        cardId: '6011000990139424',
      };
    case 1:
      return { kioskId: `K${n % 977}`, location: r.pick(['Zürich HB', 'Bern', 'Genève Cornavin', 'Basel SBB']) };
    case 2:
      return {
        reason: r.pick(['billing', 'lost card', 'address change']),
        outcome: r.pick(['resolved', 'escalated']),
        agentId: `A-${r.int(1, 99)}`,
      };
    default:
      return {
        loanId: `L${n}`,
        amount: r.int(100, 500_000) / 100,
        currency: r.pick(['CHF', 'EUR', 'USD']),
        product: r.pick(['mortgage', 'auto', 'personal']),
      };
  }
}

/**
 * Yields the workload in batches of `batchSize`; deterministic for (spec, baseMs). Event
 * ids carry the workload name and seq, so every id is unique within a run.
 */
export function* generateBatches(
  spec: WorkloadSpec,
  baseMs: number,
  batchSize: number,
  limit = spec.events,
): Generator<EventBatch> {
  const r = new Random(spec.seed);
  const pick = visitorPicker(spec, r);
  for (let first = 0; first < limit; first += batchSize) {
    const count = Math.min(batchSize, limit - first);
    const batch: EventBatch = {
      first,
      events: new Array<unknown>(count),
      visitors: new Int32Array(count),
      types: new Uint8Array(count),
    };
    for (let i = 0; i < count; i += 1) {
      const n = first + i;
      const v = pick();
      const u = r.next();
      const t = TYPE_CDF.findIndex((c) => u < c);
      batch.visitors[i] = v;
      batch.types[i] = t;
      batch.events[i] = {
        id: `${spec.name.toLowerCase()}-${n}`,
        type: EVENT_TYPES[t] ?? 'loan_funded',
        occurredAt: new Date(baseMs + n).toISOString(),
        visitor: visitorIdentity(v),
        data: dataFor(t, n, r),
      };
    }
    yield batch;
  }
}

/**
 * Seconds after the start at which the first `sent` events are due under a pace. Bursts:
 * every 5 s, 1 s at 10x the rate, then 4 s at the rate (so 14 rate-seconds per period).
 */
export function releaseAtSeconds(pace: WorkloadSpec['pace'], sent: number): number {
  switch (pace.kind) {
    case 'max':
      return 0;
    case 'steady':
      return sent / pace.eventsPerSecond;
    case 'bursts': {
      const rate = pace.eventsPerSecond;
      const perPeriod = 14 * rate;
      const periods = Math.floor(sent / perPeriod);
      const rest = sent - periods * perPeriod;
      const within = rest < 10 * rate ? rest / (10 * rate) : 1 + (rest - 10 * rate) / rate;
      return periods * 5 + within;
    }
  }
}
