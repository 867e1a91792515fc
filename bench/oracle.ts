/**
 * What a perfect pipeline would do with a workload: the final Target state (last write wins
 * by event time, ties by the greater id, as P3 says) and the fewest Single Profile Update
 * calls a coalescer with the same window could make. Both are computed from the events
 * alone; the final state is compared with the simulator by the test harness's `diffProfiles`.
 */
import {
  resolveMapping,
  validateEvent,
  visitorKey,
  type CompiledMapping,
  type ValidEvent,
} from '../src/events/index.js';
import type { Profiles } from '../test/harness/oracle.js';
import { EVENT_TYPES, generateBatches, type WorkloadSpec } from './workloads.js';

export { diffProfiles, type Profiles } from '../test/harness/oracle.js';

interface Winner {
  at: number;
  id: Buffer;
  value: string;
}

/**
 * Folds events one at a time (the harness's `oracleProfiles` wants them all in one array,
 * which a 1,000,000-event workload should not need). Events are mapped with the project's
 * own `validateEvent`, so the mapping rules are not written twice.
 */
export class StreamingOracle {
  private readonly winners = new Map<string, Map<string, Winner>>();
  private readonly mapping: CompiledMapping;

  constructor(
    private readonly now = Date.now(),
    mapping?: CompiledMapping,
  ) {
    this.mapping = mapping ?? resolveMapping();
  }

  /** Adds one raw event; an invalid one is a bug in the workload, so it throws. */
  addRaw(raw: unknown): void {
    const checked = validateEvent(raw, this.mapping, { now: this.now });
    if (!checked.ok) throw new Error(`oracle: invalid event in the workload: ${checked.errors.join('; ')}`);
    this.add(checked.event);
  }

  add(event: ValidEvent): void {
    const vk = visitorKey(event.visitor);
    let attrs = this.winners.get(vk);
    if (attrs === undefined) {
      attrs = new Map();
      this.winners.set(vk, attrs);
    }
    const id = Buffer.from(event.id, 'utf8');
    for (const [name, value] of Object.entries(event.attributes)) {
      const best = attrs.get(name);
      if (
        best === undefined ||
        event.occurredAtMs > best.at ||
        (event.occurredAtMs === best.at && Buffer.compare(id, best.id) > 0)
      ) {
        attrs.set(name, { at: event.occurredAtMs, id, value });
      }
    }
  }

  /** Per visitor key (`pc:<id>` / `3p:<id>`), attribute → value: what Target must hold. */
  profiles(): Profiles {
    const out: Profiles = new Map();
    for (const [vk, attrs] of this.winners)
      out.set(vk, Object.fromEntries([...attrs].map(([name, w]) => [name, w.value])));
    return out;
  }

  get visitors(): number {
    return this.winners.size;
  }
}

/**
 * The oracle of a generated workload. The generator gives every event of a type the same
 * attributes (all optional fields present) and later seqs later event times, so per visitor
 * and type only the newest event can win an attribute: the rest are skipped, which keeps
 * the check of a 1,000,000-event run to seconds. Across types, `StreamingOracle` decides.
 */
export function workloadOracle(spec: WorkloadSpec, baseMs: number, batchSize: number, now: number): StreamingOracle {
  const newest = new Map<number, unknown>();
  for (const batch of generateBatches(spec, baseMs, batchSize)) {
    batch.events.forEach((event, i) =>
      newest.set((batch.visitors[i] ?? 0) * EVENT_TYPES.length + (batch.types[i] ?? 0), event),
    );
  }
  const oracle = new StreamingOracle(now);
  for (const event of newest.values()) oracle.addRaw(event);
  return oracle;
}

/** Visitor and time (ms since the run started) are packed into one double to sort fast. */
const TIME_SPAN = 1e8;

/**
 * The fewest single calls a perfect coalescer makes: per visitor, a window opens at the
 * first arrival not covered by an open window and covers arrivals in [open, open + window).
 * Arrival = the producer's acceptance time. Events never accepted (NaN) are skipped.
 * `visitorOf[i]` and `acceptedAt[i]` describe event i; times must be in [0, 1e8) ms.
 */
export function countVisitorWindows(visitorOf: Int32Array, acceptedAt: Float64Array, windowMs: number): number {
  const keys = new Float64Array(visitorOf.length);
  let n = 0;
  for (let i = 0; i < visitorOf.length; i += 1) {
    const t = acceptedAt[i] ?? NaN;
    if (Number.isNaN(t)) continue;
    if (t < 0 || t >= TIME_SPAN) throw new RangeError(`arrival time ${t} ms is outside [0, ${TIME_SPAN})`);
    keys[n] = (visitorOf[i] ?? 0) * TIME_SPAN + Math.floor(t);
    n += 1;
  }
  const sorted = keys.subarray(0, n).sort();
  let windows = 0;
  let visitor = -1;
  let windowEnd = -Infinity;
  for (const key of sorted) {
    const v = Math.floor(key / TIME_SPAN);
    const t = key - v * TIME_SPAN;
    if (v !== visitor || t >= windowEnd) {
      windows += 1;
      visitor = v;
      windowEnd = t + windowMs;
    }
  }
  return windows;
}
