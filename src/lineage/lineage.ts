import type { VisitorRef } from '../events/index.js';
import type { DeliveryLogEntry } from '../coalesce/delivery-log.js';

/**
 * "Where is my event?" as pure functions: a visitor's state and an event's fate, built from
 * what the store holds (src/lineage/reader.ts reads it). The JSON shapes are what
 * `GET /admin/visitors/...`, `GET /admin/events/...`, `target-ingest trace` and the console
 * show (docs/operations.md, "Where is my event?").
 */

/** An event's place in order: its time and id, decoded from a stamp (src/redis/keys.ts). */
export interface EventRef {
  occurredAt: string;
  eventId: string;
}

/** `<occurredAt ms, 15 digits>|<event id>` → time and id; undefined when not a stamp. Pure. */
export function parseStamp(stamp: string | undefined): EventRef | undefined {
  if (stamp === undefined || stamp.length < 17 || stamp[15] !== '|') return undefined;
  const ms = Number(stamp.slice(0, 15));
  if (!Number.isFinite(ms)) return undefined;
  return { occurredAt: new Date(ms).toISOString(), eventId: stamp.slice(16) };
}

export interface AttributeState {
  name: string;
  pending: (EventRef & { value: string }) | null;
  inFlight: (EventRef & { value: string }) | null;
  delivered: (EventRef & { value: string | null }) | null;
}

/** What holds a visitor's in-flight values, as far as the queues tell. */
export interface ClaimState {
  claim: string;
  mode: 'single' | 'bulk' | 'unknown';
  batchId: string | null;
  since: string | null;
  held: boolean;
  heldReason: string | null;
}

export interface DeliveryView {
  at: string;
  route: DeliveryLogEntry['route'];
  batchId: string | null;
  answer: DeliveryLogEntry['answer'];
  detail: string | null;
  rowsFailed: number;
  attributes: Array<{ name: string } & EventRef>;
}

/** A visitor's hashes and log, as read from Redis. */
export interface VisitorRecords {
  pending: Record<string, string>;
  inFlight: Record<string, string>;
  delivered: Record<string, string>;
  /** When its pending values become due (epoch ms), if they are in the due index. */
  dueAt: number | null;
  deliveries: DeliveryLogEntry[];
}

export interface VisitorLineage<D = unknown> {
  visitor: Record<string, string>;
  sources: string[];
  dueAt: string | null;
  attributes: AttributeState[];
  inFlight: ClaimState | null;
  deliveries: DeliveryView[];
  deadLetters: D[];
  /**
   * Set when the dead letters were not all searched for this visitor: the scan stops after
   * the newest LIST_SCAN_MAX entries (src/dlq/admin.ts), so an older one of it is not shown.
   */
  deadLettersSearched?: DeadLetterSearch;
}

/** How far the search of a visitor's dead letters went, when it stopped before the oldest. */
export interface DeadLetterSearch {
  /** Entries read, newest first. */
  scanned: number;
  /** Entries in the dead-letter queue. */
  queued: number;
  /** The listing's cursor where the search stopped: `dlq list --visitor … --cursor` goes on from it. */
  next: string;
}

/**
 * "only the newest N of M dead letters were searched …", with the command that goes on from
 * there: for the 404 answer, the view's console line and the trace text. Pure.
 */
export function deadLetterSearchNote(search: DeadLetterSearch, visitorArg: string): string {
  return `only the newest ${search.scanned} of ${search.queued} dead letters were searched for this visitor; \`target-ingest dlq list --visitor ${visitorArg} --cursor ${search.next}\` (or GET /admin/dead-letters?visitor=${visitorArg}&cursor=${encodeURIComponent(search.next)}) goes on from there`;
}

/** `{ mboxPC: id }` or `{ mbox3rdPartyId: id }`, as producers name a visitor. Pure. */
export function visitorObject(ref: VisitorRef): Record<string, string> {
  return ref.kind === 'pcId' ? { mboxPC: ref.id } : { mbox3rdPartyId: ref.id };
}

/** Attribute names of a hash: pending and in flight use `s:<name>`, delivered `<name>` (bookkeeping starts with `_`, `:`, values with `v:`). */
function namesOf(hash: Record<string, string>, stamped: boolean): string[] {
  return Object.keys(hash)
    .filter((f) => (stamped ? f.startsWith('s:') : !/^(?:[_:]|v:|d:)/.test(f)))
    .map((f) => (stamped ? f.slice(2) : f));
}

function held(hash: Record<string, string>, name: string): (EventRef & { value: string }) | null {
  const ref = parseStamp(hash[`s:${name}`]);
  const value = hash[`v:${name}`];
  return ref === undefined || value === undefined ? null : { ...ref, value };
}

/** Each attribute the visitor has pending, in flight or delivered, sorted by name. Pure. */
export function attributeStates(records: VisitorRecords): AttributeState[] {
  const names = new Set([
    ...namesOf(records.pending, true),
    ...namesOf(records.inFlight, true),
    ...namesOf(records.delivered, false),
  ]);
  return [...names].sort().map((name) => {
    const deliveredRef = parseStamp(records.delivered[name]);
    return {
      name,
      pending: held(records.pending, name),
      inFlight: held(records.inFlight, name),
      delivered: deliveredRef === undefined ? null : { ...deliveredRef, value: records.delivered[`v:${name}`] ?? null },
    };
  });
}

/** A log entry as shown. Pure. */
export function deliveryView(entry: DeliveryLogEntry): DeliveryView {
  return {
    at: new Date(entry.at).toISOString(),
    route: entry.route,
    batchId: entry.batchId,
    answer: entry.answer,
    detail: entry.detail,
    rowsFailed: entry.rowsFailed,
    attributes: Object.entries(entry.attributes)
      .map(([name, stamp]) => ({ name, ...(parseStamp(stamp) ?? { occurredAt: '', eventId: '' }) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
  };
}

/** Does the store know anything of this visitor? Pure. */
export function knowsVisitor(records: VisitorRecords, deadLetters: number): boolean {
  return (
    Object.keys(records.pending).length +
      Object.keys(records.inFlight).length +
      Object.keys(records.delivered).length +
      records.deliveries.length +
      deadLetters >
    0
  );
}

/** The whole visitor view. Pure. */
export function visitorLineage<D>(
  ref: VisitorRef,
  records: VisitorRecords,
  claim: ClaimState | null,
  deadLetters: D[],
  deadLettersSearched?: DeadLetterSearch,
): VisitorLineage<D> {
  const sources = new Set(
    [records.pending._src, records.inFlight._src].flatMap((s) => (s ?? '').split(',')).filter((s) => s !== ''),
  );
  return {
    visitor: visitorObject(ref),
    sources: [...sources].sort(),
    dueAt: records.dueAt === null ? null : new Date(records.dueAt).toISOString(),
    attributes: attributeStates(records),
    inFlight: claim,
    deliveries: records.deliveries.map(deliveryView),
    deadLetters,
    ...(deadLettersSearched !== undefined ? { deadLettersSearched } : {}),
  };
}

/** An event-id marker as the merge wrote it (src/coalesce/lua/merge-events.lua). */
export type Marker =
  | { state: 'queued' }
  | {
      state: 'merged';
      merge: MergeName | null;
      receivedAtMs: number | null;
      occurredAtMs: number | null;
      vk: string | null;
    };

const MERGE_NAMES = { '1': 'applied', '2': 'late', '3': 'superseded' } as const;
type MergeName = (typeof MERGE_NAMES)[keyof typeof MERGE_NAMES];

/**
 * `t…` or the number of an ingest job (intake took it in) or
 * `a<code><receivedAt>|<occurredAt>|<vk>` (merged); a bare `a` (written before markers
 * carried lineage) says merged and nothing more. Pure.
 */
export function parseMarker(value: string): Marker | undefined {
  if (value.startsWith('t') || /^\d+$/.test(value)) return { state: 'queued' };
  if (!value.startsWith('a')) return undefined;
  // `a<code><receivedAt>|<occurredAt>|<vk>`, times in base 36 (src/coalesce/lua/merge-events.lua);
  // markers of older versions are a bare `a<code>`.
  const [head = 'a', occurred, ...rest] = value.split('|');
  const vk = rest.join('|');
  const time = (s: string | undefined) => (s === undefined || s === '' ? null : parseInt(s, 36));
  return {
    state: 'merged',
    merge: MERGE_NAMES[head.slice(1, 2) as keyof typeof MERGE_NAMES] ?? null,
    receivedAtMs: time(head.slice(2)),
    occurredAtMs: time(occurred),
    vk: vk === '' ? null : vk,
  };
}

export type EventAttributeStatus = 'pending' | 'in_flight' | 'delivered' | 'replaced';

export interface EventLineage {
  source: string;
  id: string;
  state: 'queued' | 'merged';
  receivedAt: string | null;
  merge: MergeName | null;
  occurredAt: string | null;
  visitor: Record<string, string> | null;
  /** Set when the visitor was forgotten since: nothing more of it is shown. */
  forgotten?: true;
  attributes: Array<{ name: string; status: EventAttributeStatus; replacedBy: EventRef | null }>;
  delivery: DeliveryView | null;
  landed: boolean | null;
}

/** The stamp the merge gave an event (src/redis/keys.ts). Pure. */
function stampOf(occurredAtMs: number, id: string): string {
  return `${String(occurredAtMs).padStart(15, '0')}|${id}`;
}

/**
 * Per attribute of the visitor: whether this event's value is still pending, in flight,
 * or delivered (its stamp is there), or replaced by a newer event. Attributes whose every
 * value is older than the event are left out: the event did not carry them (an applied
 * event's values are never older than what it left). The store keeps no list of the event's
 * own attributes, so `replaced` names the visitor's newer values, which may include
 * attributes this event did not carry. Pure.
 */
export function eventAttributes(records: VisitorRecords, eventStamp: string): EventLineage['attributes'] {
  const out: EventLineage['attributes'] = [];
  for (const state of attributeStates(records)) {
    const stamps = {
      delivered: records.delivered[state.name],
      in_flight: records.inFlight[`s:${state.name}`],
      pending: records.pending[`s:${state.name}`],
    };
    const carried = (Object.keys(stamps) as Array<keyof typeof stamps>).find((k) => stamps[k] === eventStamp);
    const newest = Object.values(stamps)
      .filter((s): s is string => s !== undefined && s > eventStamp)
      .sort()
      .pop();
    if (carried !== undefined) {
      out.push({
        name: state.name,
        status: carried,
        replacedBy: newest === undefined ? null : (parseStamp(newest) ?? null),
      });
    } else if (newest !== undefined) {
      out.push({ name: state.name, status: 'replaced', replacedBy: parseStamp(newest) ?? null });
    }
  }
  return out;
}

/**
 * The delivery that carried this event's values (its stamp is in the entry), else the first
 * one after it carrying newer values of the same visitor (those replaced it). Pure.
 */
export function deliveryOf(deliveries: readonly DeliveryLogEntry[], eventStamp: string): DeliveryLogEntry | undefined {
  const oldestFirst = [...deliveries].reverse();
  const stampsOf = (e: DeliveryLogEntry) => Object.values(e.attributes);
  return (
    oldestFirst.find((e) => e.answer === 'accepted' && stampsOf(e).includes(eventStamp)) ??
    oldestFirst.find((e) => stampsOf(e).includes(eventStamp)) ??
    oldestFirst.find((e) => e.answer === 'accepted' && stampsOf(e).some((s) => s > eventStamp))
  );
}

/** The event view from its marker and its visitor's records. Pure. */
export function eventLineage(
  source: string,
  id: string,
  marker: Marker,
  visitor: { ref: VisitorRef; records: VisitorRecords; forgotten: boolean } | undefined,
): EventLineage {
  const base: EventLineage = {
    source,
    id,
    state: marker.state,
    receivedAt: null,
    merge: null,
    occurredAt: null,
    visitor: null,
    attributes: [],
    delivery: null,
    landed: null,
  };
  if (marker.state === 'queued') return base;
  const view: EventLineage = {
    ...base,
    receivedAt: marker.receivedAtMs === null ? null : new Date(marker.receivedAtMs).toISOString(),
    merge: marker.merge,
    occurredAt: marker.occurredAtMs === null ? null : new Date(marker.occurredAtMs).toISOString(),
  };
  if (visitor === undefined) return view;
  if (visitor.forgotten) return { ...view, forgotten: true };
  view.visitor = visitorObject(visitor.ref);
  if (marker.occurredAtMs === null) return view;
  const eventStamp = stampOf(marker.occurredAtMs, id);
  view.attributes = eventAttributes(visitor.records, eventStamp);
  const delivery = deliveryOf(visitor.records.deliveries, eventStamp);
  if (delivery !== undefined) {
    view.delivery = deliveryView(delivery);
    view.landed = delivery.answer === 'accepted';
  }
  return view;
}
