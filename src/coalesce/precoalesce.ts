import { visitorKey, type ValidEvent } from '../events/index.js';

/** Is event `a` later than event `b`, as src/coalesce/lua/includes/newer.lua orders stamps (time, then id bytes)? */
export function eventNewer(
  a: Pick<ValidEvent, 'occurredAtMs' | 'id'>,
  b: Pick<ValidEvent, 'occurredAtMs' | 'id'>,
): boolean {
  if (a.occurredAtMs !== b.occurredAtMs) return a.occurredAtMs > b.occurredAtMs;
  return Buffer.compare(Buffer.from(a.id), Buffer.from(b.id)) > 0;
}

/**
 * The attributes each event of one merge call carries into the merge script: those no other
 * event of the same visitor in the call is newer for. The rest could only lose inside the
 * script, after reading three hashes each; a Zipf batch of 1,000 events has its busiest
 * visitors dozens of times. An event left with no attribute is still merged (its id is
 * marked, its outcome counted) at the cost of its marker alone; it reads `superseded`, which
 * it is — by the newer event of the same call — even where it was also older than what
 * Target holds (`late` when merged on its own). A later copy of an id in the call keeps its
 * attributes and takes no part: the merge calls it a duplicate of the first, as before.
 */
export function newestPerVisitor(events: readonly ValidEvent[]): Array<Array<[string, string]>> {
  const winners = new Map<string, Map<string, number>>();
  const vks = events.map((event) => visitorKey(event.visitor));
  // A later copy of an id (a resend inside one batch) is the merge's duplicate: it must not
  // take values from the first copy, which is the one that applies (P2).
  const firstOfId = new Map<string, number>();
  events.forEach((event, index) => {
    if (!firstOfId.has(event.id)) firstOfId.set(event.id, index);
  });
  events.forEach((event, index) => {
    if (firstOfId.get(event.id) !== index) return;
    const vk = vks[index] as string;
    let byName = winners.get(vk);
    if (byName === undefined) winners.set(vk, (byName = new Map<string, number>()));
    for (const name in event.attributes) {
      const current = byName.get(name);
      if (current === undefined || eventNewer(event, events[current] as ValidEvent)) byName.set(name, index);
    }
  });
  return events.map((event, index) => {
    const entries = Object.entries(event.attributes);
    if (firstOfId.get(event.id) !== index) return entries;
    const byName = winners.get(vks[index] as string);
    return entries.filter(([name]) => byName?.get(name) === index);
  });
}
