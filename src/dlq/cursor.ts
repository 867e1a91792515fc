import { createHash } from 'node:crypto';
import type { DeadLetterFilter } from './filters.js';

/**
 * Where a dead-letter listing stopped: the list index (newest first) of the next entry to
 * read, the id of the entry read last (`after`), and how many matching entries came before.
 * The index alone would drift when entries are added (at the newest end) or replayed and
 * purged while an operator pages; the reader looks for `after` around the index and resumes
 * right behind it (src/dlq/admin.ts).
 */
export interface ListPosition {
  index: number;
  after?: string;
  /** Matching entries before `index`; with it a filtered listing knows its total at the end. */
  matched: number;
}

/** The opaque `next` marker of a listing: its position and the filter it was made for. Pure. */
export function encodeCursor(position: ListPosition, filter: DeadLetterFilter): string {
  const body = {
    v: 1,
    i: position.index,
    m: position.matched,
    f: filterKey(filter),
    ...(position.after !== undefined ? { a: position.after } : {}),
  };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}

/**
 * Reads a `cursor` given back by an operator. Refused (naming the field and the problem)
 * when it is not one this server made, or was made for another filter: the position and
 * match count of one filter mean nothing for another. Pure.
 */
export function decodeCursor(cursor: string, filter: DeadLetterFilter): ListPosition {
  let body: unknown;
  try {
    body = cursor.length <= 1024 ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : undefined;
  } catch {
    body = undefined;
  }
  if (!isCursorBody(body))
    throw new CursorError('cursor: not a cursor from this server; pass back the `next` of the previous page unchanged');
  if (body.f !== filterKey(filter))
    throw new CursorError('cursor: made for another filter; send the same filter as the page it came from');
  return { index: body.i, matched: body.m, ...(body.a !== undefined ? { after: body.a } : {}) };
}

interface CursorBody {
  v: 1;
  i: number;
  m: number;
  f: string;
  a?: string;
}

function isCursorBody(value: unknown): value is CursorBody {
  if (typeof value !== 'object' || value === null) return false;
  const body = value as Record<string, unknown>;
  const count = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  return (
    body.v === 1 &&
    count(body.i) &&
    count(body.m) &&
    typeof body.f === 'string' &&
    (body.a === undefined || (typeof body.a === 'string' && body.a.length <= 256))
  );
}

/** A short digest of the filter's fields, in a fixed order. Pure. */
function filterKey(filter: DeadLetterFilter): string {
  const fields = Object.entries(filter)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(fields)).digest('base64url').slice(0, 12);
}

/**
 * Where to resume in a list of ids read around a cursor's index (`ids[0]` is at list index
 * `from`): right behind `after` when it is among them, else the index itself (the entry was
 * removed, or more entries moved than the window covers: then a few entries may be shown
 * twice or skipped, never the listing stuck). Pure.
 */
export function resumeIndex(ids: readonly string[], from: number, after: string | undefined, index: number): number {
  if (after === undefined) return index;
  const at = ids.indexOf(after);
  return at === -1 ? index : from + at + 1;
}

export class CursorError extends Error {
  readonly code = 'CURSOR_INVALID';
  readonly problems: string[];
  constructor(problem: string) {
    super(problem);
    this.name = 'CursorError';
    this.problems = [problem];
  }
}
