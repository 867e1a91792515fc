/**
 * Follows every accepted event to the simulator write that carries it. Event `seq` n has
 * `occurredAt = baseMs + n`, and each event type always sets one `…At` attribute from it, so
 * a write whose `…At` for type t reads seq m delivers (or makes obsolete) every pending event
 * of that visitor and type with seq ≤ m: everything else of that type is older than m's
 * values, which ride in the same snapshot. Latency = write time − acceptance time.
 */
import { build, type Histogram } from 'hdr-histogram-js';
import type { ProfileWrite } from '../src/simulator/store.js';
import { EVENT_TYPES, TIME_ATTRIBUTES, visitorIndexOf, type EventBatch } from './workloads.js';

const TYPES = EVENT_TYPES.length;

/** The latency histogram: milliseconds up to an hour, 3 significant digits. */
export function latencyHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });
}

export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

function percentilesOf(h: Histogram): Percentiles {
  return {
    p50: h.getValueAtPercentile(50),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
  };
}

export class DeliveryTracker {
  /** Per seq: ms after `t0` the producer's promise resolved (NaN: not accepted). */
  readonly acceptedAt: Float64Array;
  /** Per seq: ms after `t0` Target first held it or something newer (NaN: not yet). */
  readonly deliveredAt: Float64Array;
  readonly visitorOf: Int32Array;
  private readonly typeOf: Uint8Array;
  /** Per visitor × type: greatest seq Target has received (-1: none). */
  private readonly lastSeq: Float64Array;
  private readonly pending = new Map<number, number[]>();
  readonly latency = latencyHistogram();
  accepted = 0;
  delivered = 0;
  /** Writes that carried an older value than Target already had (a P4 violation). */
  overtakes = 0;
  writes = 0;
  lastWriteAt = NaN;

  constructor(
    events: number,
    visitors: number,
    private readonly baseMs: number,
    readonly t0: number,
  ) {
    this.acceptedAt = new Float64Array(events).fill(NaN);
    this.deliveredAt = new Float64Array(events).fill(NaN);
    this.visitorOf = new Int32Array(events);
    this.typeOf = new Uint8Array(events);
    this.lastSeq = new Float64Array(visitors * TYPES).fill(-1);
  }

  /** The producer's promise for this batch resolved at `now` (epoch ms). */
  noteAccepted(batch: EventBatch, now = Date.now()): void {
    const at = now - this.t0;
    for (let i = 0; i < batch.events.length; i += 1) {
      const seq = batch.first + i;
      const v = batch.visitors[i] ?? 0;
      const t = batch.types[i] ?? 0;
      this.acceptedAt[seq] = at;
      this.visitorOf[seq] = v;
      this.typeOf[seq] = t;
      this.accepted += 1;
      // Already overtaken by a newer event Target holds: it can never be sent (late).
      if (seq <= (this.lastSeq[v * TYPES + t] ?? -1)) this.markDelivered(seq, at);
      else {
        const list = this.pending.get(v);
        if (list === undefined) this.pending.set(v, [seq]);
        else list.push(seq);
      }
    }
  }

  /** Simulator `store.onWrite` listener. */
  onWrite(write: ProfileWrite, now = Date.now()): void {
    if (write.outcome !== 'created' && write.outcome !== 'updated') return;
    this.writes += 1;
    const at = now - this.t0;
    this.lastWriteAt = at;
    const v = visitorIndexOf(write.id);
    let touched = false;
    for (let t = 0; t < TYPES; t += 1) {
      const value = write.attributes[TIME_ATTRIBUTES[t] ?? ''];
      if (value === undefined) continue;
      const seq = Date.parse(value) - this.baseMs;
      const slot = v * TYPES + t;
      const last = this.lastSeq[slot] ?? -1;
      if (seq < last) this.overtakes += 1;
      else if (seq > last) {
        this.lastSeq[slot] = seq;
        touched = true;
      }
    }
    const list = this.pending.get(v);
    if (!touched || list === undefined) return;
    const still: number[] = [];
    for (const seq of list) {
      if (seq <= (this.lastSeq[v * TYPES + (this.typeOf[seq] ?? 0)] ?? -1)) this.markDelivered(seq, at);
      else still.push(seq);
    }
    if (still.length === 0) this.pending.delete(v);
    else this.pending.set(v, still);
  }

  private markDelivered(seq: number, at: number): void {
    this.deliveredAt[seq] = at;
    this.delivered += 1;
    this.latency.recordValue(Math.max(0, at - (this.acceptedAt[seq] ?? at)));
  }

  /** Accepted events Target has not received yet. */
  get outstanding(): number {
    return this.accepted - this.delivered;
  }

  /** Time (ms after t0) the last accepted event was delivered. */
  lastDelivery(): number {
    let last = NaN;
    for (const at of this.deliveredAt) if (!Number.isNaN(at) && !(at <= last)) last = at;
    return last;
  }

  percentiles(): Percentiles {
    return percentilesOf(this.latency);
  }

  /**
   * Latency of the events accepted at least `fromMs` after t0 and delivered. With `fromMs` =
   * the coalescing window this leaves out the cold start, when every event opens a new
   * visitor-window (about one call per event instead of a third): the steady state.
   */
  percentilesFrom(fromMs: number): Percentiles & { events: number } {
    const h = latencyHistogram();
    let events = 0;
    for (let seq = 0; seq < this.acceptedAt.length; seq += 1) {
      const accepted = this.acceptedAt[seq] ?? NaN;
      const delivered = this.deliveredAt[seq] ?? NaN;
      if (!(accepted >= fromMs) || Number.isNaN(delivered)) continue;
      h.recordValue(Math.max(0, delivered - accepted));
      events += 1;
    }
    return { ...percentilesOf(h), events };
  }
}
