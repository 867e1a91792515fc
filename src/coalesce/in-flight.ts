/** One attribute as held in flight: its value and the stamp of the event it came from. */
export interface AttributeUpdate {
  value: string;
  stamp: string;
}

/** What one delivery should send for one visitor. */
export interface VisitorSnapshot {
  vk: string;
  attributes: Map<string, AttributeUpdate>;
  /** When intake stored the earliest of these values (ms), if the store knows it. */
  receivedAtMs?: number;
  /** The producers (sources) whose events these values came from, if the store knows them. */
  sources?: string[];
  /**
   * Bulk claims only: the values last delivered for this visitor, by attribute name (its
   * delivered hash), which a v2 row must carry again (the v2 override, docs/target.md).
   */
  delivered?: Map<string, string>;
}

/** A visitor's in-flight hash, flat as HGETALL returns it, as a snapshot. */
export function snapshotOf(vk: string, flat: readonly string[]): VisitorSnapshot {
  const snapshot: VisitorSnapshot = { vk, attributes: parseInFlight(flat) };
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (flat[i] === '_in') {
      const at = Number(flat[i + 1]);
      if (Number.isFinite(at)) snapshot.receivedAtMs = at;
    } else if (flat[i] === '_src') {
      snapshot.sources = (flat[i + 1] ?? '').split(',').filter((one) => one !== '');
    } else if (flat[i]?.startsWith('d:') === true) {
      snapshot.delivered ??= new Map();
      snapshot.delivered.set(flat[i]?.slice(2) ?? '', flat[i + 1] ?? '');
    }
  }
  return snapshot;
}

/** Turns an in-flight hash (`v:<name>`, `s:<name>`, `_claim`) into attribute updates. */
export function parseInFlight(flat: readonly string[]): Map<string, AttributeUpdate> {
  const values = new Map<string, string>();
  const stamps = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i] ?? '';
    const value = flat[i + 1] ?? '';
    if (field.startsWith('v:')) values.set(field.slice(2), value);
    else if (field.startsWith('s:')) stamps.set(field.slice(2), value);
  }
  const out = new Map<string, AttributeUpdate>();
  for (const [name, value] of values) {
    const s = stamps.get(name);
    if (s !== undefined) out.set(name, { value, stamp: s });
  }
  return out;
}
