import { visitorKey, type VisitorRef } from '../events/index.js';
import type { DeadLetter } from '../jobs/catalog.js';
import { openStoredRows } from '../jobs/ingest-rows.js';

/**
 * A dead letter's raw events, a whole ingest job in rows form opened into its events (a map
 * worker of a release before rows dead-letters such a job as one item: src/jobs/ingest-rows.ts),
 * so erasure and lineage find every visitor in it.
 */
function eventsOf(entry: DeadLetter): unknown[] | undefined {
  return entry.events === undefined ? undefined : openStoredRows(entry.events);
}

/** The visitor key (`pc:<id>` / `3p:<id>`) a raw event (as a map-stage dead letter keeps it) names, if any. */
export function rawEventVisitorKey(event: unknown): string | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const raw = (event as { visitor?: unknown }).visitor;
  if (typeof raw !== 'object' || raw === null) return undefined;
  const ids = raw as { mboxPC?: unknown; mbox3rdPartyId?: unknown };
  let ref: VisitorRef | undefined;
  if (typeof ids.mboxPC === 'string' && ids.mboxPC !== '') ref = { kind: 'pcId', id: ids.mboxPC };
  else if (typeof ids.mbox3rdPartyId === 'string' && ids.mbox3rdPartyId !== '')
    ref = { kind: 'thirdPartyId', id: ids.mbox3rdPartyId };
  return ref === undefined ? undefined : visitorKey(ref);
}

/** Every visitor key a dead letter holds values or raw events of. Pure. */
export function visitorKeysOf(entry: DeadLetter): string[] {
  const keys = new Set<string>();
  for (const v of entry.visitors ?? []) keys.add(v.vk);
  for (const e of eventsOf(entry) ?? []) {
    const vk = rawEventVisitorKey(e);
    if (vk !== undefined) keys.add(vk);
  }
  return [...keys];
}

/**
 * A dead letter without anything of the visitors `vks`: `undefined` when it holds none of
 * them, `null` when nothing else is left in it (it goes), else the entry without their
 * values and raw events (erasure, src/erasure/forget.ts). Pure.
 */
export function withoutVisitors(entry: DeadLetter, vks: ReadonlySet<string>): DeadLetter | null | undefined {
  const visitors = entry.visitors?.filter((v) => !vks.has(v.vk));
  const opened = eventsOf(entry);
  const events = opened?.filter((e) => {
    const vk = rawEventVisitorKey(e);
    return vk === undefined || !vks.has(vk);
  });
  const changed = visitors?.length !== entry.visitors?.length || events?.length !== opened?.length;
  if (!changed) return undefined;
  if ((visitors?.length ?? 0) + (events?.length ?? 0) === 0) return null;
  return {
    ...entry,
    ...(visitors !== undefined ? { visitors } : {}),
    ...(events !== undefined ? { events } : {}),
  };
}

/**
 * A dead letter cut to one visitor's part: its values and raw events only, with counts of
 * what else the entry holds, so a visitor's lineage never shows other customers' ids or
 * values (an entry can hold hundreds). Pure.
 */
export function onlyVisitor<E extends DeadLetter>(entry: E, vk: string): E & { othersOmitted?: number } {
  const visitors = entry.visitors?.filter((v) => v.vk === vk);
  const opened = eventsOf(entry);
  const events = opened?.filter((e) => rawEventVisitorKey(e) === vk);
  const omitted =
    (entry.visitors?.length ?? 0) - (visitors?.length ?? 0) + (opened?.length ?? 0) - (events?.length ?? 0);
  return {
    ...entry,
    ...(visitors !== undefined ? { visitors } : {}),
    ...(events !== undefined ? { events } : {}),
    ...(omitted > 0 ? { othersOmitted: omitted } : {}),
  };
}
