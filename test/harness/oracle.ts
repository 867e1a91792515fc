import { resolveMapping, validateEvent, visitorKey, type CompiledMapping } from '../../src/events/index.js';

/** Per visitor key (`pc:<id>` / `3p:<id>`, as the simulator's `store.all()`), attribute → value. */
export type Profiles = Map<string, Record<string, string>>;

export interface OracleOptions {
  /** The pipeline's mapping; default: the built-in table. */
  mapping?: CompiledMapping;
  /** Server clock for validation ("not more than a day ahead"); default now. */
  now?: number;
  maxValueLength?: number;
}

/**
 * What Target must hold after every event was delivered, computed from the events alone
 * (P3): per visitor and attribute, the value of the event with the greatest
 * `(occurredAt, id)`, ids compared byte by byte as UTF-8. Events are mapped with the
 * project's own `validateEvent`, so mapping rules are not written twice; resends of one id
 * carry the same content, so counting them more than once changes nothing. Invalid events
 * are an error: a workload for an oracle test is meant to be valid.
 */
export function oracleProfiles(events: readonly unknown[], options: OracleOptions = {}): Profiles {
  const mapping = options.mapping ?? resolveMapping();
  const now = options.now ?? Date.now();
  const winners = new Map<string, { at: number; id: Buffer; value: string }>();
  for (const raw of events) {
    const checked = validateEvent(raw, mapping, {
      now,
      ...(options.maxValueLength !== undefined ? { maxValueLength: options.maxValueLength } : {}),
    });
    if (!checked.ok) throw new Error(`oracle: invalid event in the workload: ${checked.errors.join('; ')}`);
    const { event } = checked;
    const id = Buffer.from(event.id, 'utf8');
    const vk = visitorKey(event.visitor);
    for (const [name, value] of Object.entries(event.attributes)) {
      const key = `${vk}\u0000${name}`;
      const best = winners.get(key);
      if (
        best === undefined ||
        event.occurredAtMs > best.at ||
        (event.occurredAtMs === best.at && Buffer.compare(id, best.id) > 0)
      ) {
        winners.set(key, { at: event.occurredAtMs, id, value });
      }
    }
  }
  const profiles: Profiles = new Map();
  for (const [key, { value }] of winners) {
    const cut = key.indexOf('\u0000');
    const vk = key.slice(0, cut);
    const profile = profiles.get(vk) ?? {};
    profile[key.slice(cut + 1)] = value;
    profiles.set(vk, profile);
  }
  return profiles;
}

/** One write Target applied, as the simulator reports it (`store.onWrite`). */
export interface AppliedWrite {
  vk: string;
  attributes: Record<string, string>;
}

/**
 * Writes that certainly put an older value over a newer one (P4), one line each. A value
 * may come from several events, so each written value stands for a range of event stamps;
 * a write is flagged only when even the newest event that could have produced it is older
 * than the oldest event that could have produced a value written before it. Sound (no false
 * alarms), and exact whenever values are unique.
 */
export function findOvertaking(
  events: readonly unknown[],
  writes: readonly AppliedWrite[],
  options: OracleOptions = {},
): string[] {
  const mapping = options.mapping ?? resolveMapping();
  const now = options.now ?? Date.now();
  const range = new Map<string, { min: Buffer; max: Buffer }>();
  for (const raw of events) {
    const checked = validateEvent(raw, mapping, { now });
    if (!checked.ok) continue;
    const { event } = checked;
    const at = Buffer.from(`${String(event.occurredAtMs).padStart(15, '0')}|${event.id}`, 'utf8');
    for (const [name, value] of Object.entries(event.attributes)) {
      const key = `${visitorKey(event.visitor)}\u0000${name}\u0000${value}`;
      const r = range.get(key);
      if (r === undefined) range.set(key, { min: at, max: at });
      else {
        if (Buffer.compare(at, r.min) < 0) r.min = at;
        if (Buffer.compare(at, r.max) > 0) r.max = at;
      }
    }
  }
  const floor = new Map<string, { stamp: Buffer; value: string }>();
  const out: string[] = [];
  for (const write of writes) {
    for (const [name, value] of Object.entries(write.attributes)) {
      const r = range.get(`${write.vk}\u0000${name}\u0000${value}`);
      if (r === undefined) {
        out.push(`${write.vk}.${name}: Target got ${JSON.stringify(value)}, which no event carries`);
        continue;
      }
      const attr = `${write.vk}\u0000${name}`;
      const before = floor.get(attr);
      if (before !== undefined && Buffer.compare(r.max, before.stamp) < 0) {
        out.push(
          `${write.vk}.${name}: ${JSON.stringify(value)} written after the newer ${JSON.stringify(before.value)}`,
        );
      }
      if (before === undefined || Buffer.compare(r.min, before.stamp) > 0) floor.set(attr, { stamp: r.min, value });
    }
  }
  return out;
}

/** Differences between what Target holds and the oracle, one line each (empty: equal). */
export function diffProfiles(expected: Profiles, actual: Profiles, limit = 20): string[] {
  const lines: string[] = [];
  for (const [vk, want] of expected) {
    const got = actual.get(vk);
    if (got === undefined) {
      lines.push(`${vk}: missing at Target (want ${JSON.stringify(want)})`);
      continue;
    }
    for (const name of new Set([...Object.keys(want), ...Object.keys(got)])) {
      if (want[name] !== got[name])
        lines.push(`${vk}.${name}: want ${JSON.stringify(want[name])}, Target has ${JSON.stringify(got[name])}`);
    }
  }
  for (const vk of actual.keys()) if (!expected.has(vk)) lines.push(`${vk}: at Target but not in the oracle`);
  return lines.length > limit ? [...lines.slice(0, limit), `... and ${lines.length - limit} more`] : lines;
}
