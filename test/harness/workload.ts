/**
 * Seeded workloads for oracle tests: events for overlapping visitors, shuffled, with ties in
 * event time and resends of the same id (same batch, a later batch, and a batch sent at the
 * same moment). The same seed gives the same events and batches (event times are relative
 * to `baseMs`), so a failing run can be replayed.
 */

/** A small, fast, seeded PRNG (mulberry32); `next()` is uniform in [0, 1). */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Whole number in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i -= 1) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}

/** A seed from the environment (`SEED`) or a fresh random one. */
export function seedFromEnv(): number {
  const fromEnv = Number(process.env.SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;
}

export interface WorkloadOptions {
  seed: number;
  events: number;
  visitors: number;
  /** Events per producer batch (before resends are added). Default 100. */
  batchSize?: number;
  /** Batches sent at the same moment (one `Promise.all`). Default 3. */
  concurrentBatches?: number;
  /** Share of events sent twice. Default 0.1. */
  resendRate?: number;
  /** Event times fall in the 6 hours after this; default 5 days before now, on a minute. */
  baseMs?: number;
}

export interface Workload {
  /** Every distinct event once (the oracle's input). */
  events: unknown[];
  /** Groups of batches; the batches of one group are sent concurrently. */
  groups: unknown[][][];
  /** Copies sent in addition to the first copy of each event. */
  resends: number;
}

// Ids and CRM ids mix cases, digits and non-ASCII letters so byte order matters in ties.
const ID_CHARS = [...'abcXYZ019-_.éü日'];
const TYPES = ['kiosk_visit', 'loan_funded', 'loyalty_card_used', 'call_centre_contact'] as const;

function randomId(r: Random, n: number): string {
  let prefix = '';
  for (let i = r.int(1, 4); i > 0; i -= 1) prefix += r.pick(ID_CHARS);
  return `${prefix}~${n}`;
}

function visitorsFor(r: Random, count: number): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < count; i += 1) {
    if (i % 3 === 2)
      out.push({ mboxPC: `${1_368_007_744_041 + i}-${String(r.int(0, 999_999)).padStart(6, '0')}.0${i % 10}_00` });
    else out.push({ mbox3rdPartyId: r.chance(0.2) ? `CRM-Zürich-${i}` : `CRM-${i}` });
  }
  return out;
}

function timestamp(ms: number, r: Random): string {
  // Some producers send local time with an offset; the mapping normalises to UTC.
  if (!r.chance(0.25)) return new Date(ms).toISOString();
  const local = new Date(ms + 2 * 3600_000).toISOString().slice(0, 23);
  return `${local}+02:00`;
}

function dataFor(type: (typeof TYPES)[number], r: Random): Record<string, unknown> {
  // An absent optional field sets nothing, so the older value of that attribute must stay.
  const opt = (name: string, p: number, value: unknown): Record<string, unknown> =>
    r.chance(p) ? { [name]: value } : {};
  switch (type) {
    case 'kiosk_visit':
      return {
        kioskId: `K${r.int(1, 40)}`,
        ...opt('location', 0.7, r.pick(['Zürich HB', 'Bern', 'Genève Cornavin', 'Basel SBB'])),
      };
    case 'loan_funded':
      return {
        loanId: `L${r.int(1, 1e6)}`,
        amount: r.int(100, 500_000) / 100,
        ...opt('currency', 0.6, r.pick(['CHF', 'EUR', 'USD'])),
        ...opt('product', 0.5, r.pick(['mortgage', 'auto', 'personal'])),
      };
    case 'loyalty_card_used':
      return {
        storeId: `S${r.int(1, 99)}`,
        ...opt('points', 0.8, r.int(0, 5000)),
        ...opt('tier', 0.5, r.pick(['bronze', 'silver', 'gold', 'platinum'])),
        ...opt('cardId', 0.5, '6011000990139424'),
      };
    case 'call_centre_contact':
      return {
        reason: r.pick(['billing', 'lost card', 'address change', 'complaint']),
        ...opt('outcome', 0.6, r.pick(['resolved', 'escalated', 'callback'])),
        ...opt('agentId', 0.5, `A-${r.int(1, 99)}`),
      };
  }
}

/** Builds a workload; deterministic for a seed and `baseMs`. */
export function buildWorkload(options: WorkloadOptions): Workload {
  const r = new Random(options.seed);
  const baseMs = options.baseMs ?? Math.floor((Date.now() - 5 * 24 * 3600_000) / 60_000) * 60_000;
  const visitors = visitorsFor(r, options.visitors);
  const lastTime = new Map<string, number>();
  const events: unknown[] = [];
  for (let n = 0; n < options.events; n += 1) {
    const v = r.int(0, visitors.length - 1);
    const type = r.pick(TYPES);
    // One event in five reuses the time of the previous one of its kind for the visitor:
    // a tie in event time, decided by the event id.
    const tieWith = lastTime.get(`${v}/${type}`);
    const at =
      tieWith !== undefined && r.chance(0.2)
        ? tieWith
        : baseMs + r.int(0, 360) * 60_000 + r.pick([0, 0, 0, r.int(1, 59_999)]);
    lastTime.set(`${v}/${type}`, at);
    events.push({
      id: randomId(r, n),
      type,
      occurredAt: timestamp(at, r),
      visitor: visitors[v],
      data: dataFor(type, r),
    });
  }
  r.shuffle(events);

  const batchSize = options.batchSize ?? 100;
  const batches: unknown[][] = [];
  for (let i = 0; i < events.length; i += batchSize) batches.push(events.slice(i, i + batchSize));
  const perGroup = options.concurrentBatches ?? 3;
  const resendRate = options.resendRate ?? 0.1;
  let resends = 0;
  batches.forEach((batch, b) => {
    for (const event of [...batch]) {
      if (!r.chance(resendRate)) continue;
      const copy = structuredClone(event);
      const where = r.int(0, 2);
      // 0: the same batch; 1: a batch of the same concurrent group; 2: any later batch.
      const groupEnd = Math.min(batches.length - 1, (Math.floor(b / perGroup) + 1) * perGroup - 1);
      const target = where === 0 ? b : where === 1 ? r.int(b, groupEnd) : r.int(b, batches.length - 1);
      batches[target]?.splice(r.int(0, batches[target].length), 0, copy);
      resends += 1;
    }
  });
  const groups: unknown[][][] = [];
  for (let i = 0; i < batches.length; i += perGroup) groups.push(batches.slice(i, i + perGroup));
  return { events, groups, resends };
}
