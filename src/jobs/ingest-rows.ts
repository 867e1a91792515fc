/**
 * The compact form in which intake stores the events of an ingest job: one array per event,
 * `[id, type, occurredAt, visitor, data]` (`data` left out when the event has none), in
 * `IngestJob.rows` instead of `IngestJob.events`.
 *
 * An event waits in Redis as part of its job's JSON until the map merges it. The five
 * property names of an event object were 42 of its ~190 bytes in the bench's workloads, and
 * the backlog of a flood is mostly such events (docs/performance.md, "bytes per pending
 * event"). Every field keeps its value as the producer sent it; `visitor` and `data` stay
 * objects, so the redaction of job data by key (src/redact.ts) still masks private fields.
 *
 * Only events intake validated are stored as rows (the job says under which envelope rules:
 * `checkedEnvelope`). Dead letters keep event objects, so an operator reads and replays them
 * as producers sent them. A map worker of a release before rows refuses a job without
 * `events` (JobDataError): upgrade the map workers before intake (docs/operations.md).
 */

/** One event as intake stores it: `[id, type, occurredAt, visitor]` or `[id, type, occurredAt, visitor, data]`. */
export type IngestRow = unknown[];

/** What a row holds, by position. */
const FIELDS = ['id', 'type', 'occurredAt', 'visitor', 'data'] as const;

/** The row of an event intake validated (an envelope of exactly these fields). */
export function toIngestRow(event: unknown): IngestRow {
  const e = event as Record<(typeof FIELDS)[number], unknown>;
  return e.data === undefined
    ? [e.id, e.type, e.occurredAt, e.visitor]
    : [e.id, e.type, e.occurredAt, e.visitor, e.data];
}

/**
 * The event object a row stands for, for validation and mapping as if it had been stored as
 * sent. Anything that is not a row of 4 or 5 entries (a job edited by hand, or written by a
 * newer release with more fields) comes back as `{ row }`: no envelope, so the map validates
 * it fully and refuses it (`id: Required`, `row: unrecognized key`), and its dead letter keeps
 * the row as stored; a longer row is never merged with its extra entries dropped.
 */
export function fromIngestRow(row: unknown): unknown {
  if (!Array.isArray(row) || row.length < 4 || row.length > FIELDS.length) return { row };
  const [id, type, occurredAt, visitor, data] = row as unknown[];
  return data === undefined ? { id, type, occurredAt, visitor } : { id, type, occurredAt, visitor, data };
}

/** The events of an ingest job's data as objects, whichever form it stores them in. */
export function ingestEvents(data: { events?: unknown[] | undefined; rows?: unknown[] | undefined }): unknown[] {
  if (Array.isArray(data.rows)) return data.rows.map(fromIngestRow);
  return Array.isArray(data.events) ? data.events : [];
}

/**
 * A dead letter's events with any whole ingest job's data in rows form (what a map worker of a
 * release before rows dead-letters when it refuses such a job: the job's data as its one
 * "event") opened into its events, so replaying that letter takes them in as sent.
 */
export function openStoredRows(events: readonly unknown[]): unknown[] {
  return events.flatMap((e) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return [e];
    const record = e as Record<string, unknown>;
    return Array.isArray(record.rows) && typeof record.source === 'string' && !('id' in record)
      ? ingestEvents({ rows: record.rows })
      : [e];
  });
}
