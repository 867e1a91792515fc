import type { Job, Queue } from 'bullmq';
import type { VisitorStore } from '../coalesce/store.js';
import type { Logger } from '../logger.js';
import type { DeadLetter, IngestJob } from '../jobs/catalog.js';
import { openStoredRows } from '../jobs/ingest-rows.js';
import { ingestJobName } from '../jobs/names.js';
import { editJobData } from '../jobs/replace-data.js';
import type { RedisClient } from '../redis/connection.js';
import { decodeCursor, encodeCursor, resumeIndex, type ListPosition } from './cursor.js';
import { matchesFilter, type DeadLetterFilter } from './filters.js';

/** A dead letter as operators see it: its id and entry. */
export interface DeadLetterView extends DeadLetter {
  id: string;
  createdAt: number;
}

export interface BulkActionResult {
  matched: number;
  /** Entries replayed or purged (0 on a dry run). */
  done: number;
  /** Ids of the matching entries, newest first: the first ACTION_IDS_MAX of them. */
  ids: string[];
  /** Matching entries whose ids `ids` leaves out (present only when some are). */
  idsOmitted?: number;
}

/** One page of a listing. */
export interface DeadLetterPage {
  /**
   * Matching entries in the whole queue, when known without reading it all: always for an
   * unfiltered listing (the queue length), and for a filtered one on the page whose scan
   * reached the oldest entry. Absent otherwise (follow `next`).
   */
  total?: number;
  entries: DeadLetterView[];
  /** Pass back as `cursor` for the next page; absent once the oldest entry was read. */
  next?: string;
  /** Entries this request read (matching or not): at most LIST_SCAN_MAX, or the page size when larger. */
  scanned: number;
  /** Entries in the dead-letter queue now. */
  queued: number;
}

/** Entries trim reads at a time from the oldest end. */
const PAGE = 500;

/** Entries read per round trip: ids first, then their jobs. */
export const CHUNK = 100;

/**
 * The most entries one filtered listing request reads before it answers with what it found
 * and a `next` cursor, even if the page is not full. 2,000 entries is 2% of the default
 * DEAD_LETTER_MAX_COUNT (100,000): a request costs 20 round trips of CHUNK entries and at most
 * CHUNK entries in memory at once (each entry is at most DEAD_LETTER_MAX_ITEMS visitors or
 * events, src/dlq/writer.ts), so a filter that matches nothing walks a full queue in 50
 * requests instead of reading all of it for every page. An unfiltered page reads only its
 * own entries.
 */
export const LIST_SCAN_MAX = 2_000;

/**
 * How far (in entries, either way) around a cursor's index the reader looks for the entry
 * the previous page ended on: entries written or replayed between two page requests move it.
 */
const ANCHOR_WINDOW = 1_000;

/**
 * The most ids a replay or purge answer lists. Replay and purge read CHUNK entries at a
 * time, so memory does not grow with the number of matches; the list of ids would (100,000
 * ids are megabytes of JSON), so past this only their number is given (`idsOmitted`).
 */
export const ACTION_IDS_MAX = 1_000;

/**
 * Operator actions on the dead-letter queue, shared by the CLI and /admin/dead-letters.
 * Entries are waiting jobs of a queue no worker takes, so bull-board shows them as they are.
 * Replay puts events back on the ingest queue (the merge's dedupe still applies) and visitor
 * updates back into the visitor store with their original event stamps, so last-write-wins
 * and no-overtaking hold for replayed values too (P3/P4). An entry is removed only after it
 * was put back. Nothing here reads the whole queue at once: listings page with a cursor,
 * replay and purge walk the queue CHUNK entries at a time.
 */
export class DeadLetterAdmin {
  constructor(
    private readonly queues: { deadLetter: Queue<DeadLetter>; ingest: Queue<IngestJob> },
    private readonly store: VisitorStore,
    private readonly logger: Logger,
  ) {}

  /**
   * One page of matching entries, newest first, from the start (skipping `offset` matches)
   * or from a `cursor` (the `next` of the previous page, made for the same filter). Reads at
   * most max(LIST_SCAN_MAX, limit) entries; a filtered page may come back short, or empty,
   * with a `next` to go on from.
   */
  async list(
    filter: DeadLetterFilter,
    page: { offset?: number; limit?: number; cursor?: string } = {},
  ): Promise<DeadLetterPage> {
    const limit = Math.max(1, Math.floor(page.limit ?? 100));
    const offset = Math.max(0, Math.floor(page.offset ?? 0));
    const filtered = Object.keys(filter).length > 0;
    const from: ListPosition =
      page.cursor !== undefined
        ? decodeCursor(page.cursor, filter)
        : filtered
          ? { index: 0, matched: 0 }
          : // Unfiltered, every entry matches: the offset is an index, nothing is read to skip.
            { index: offset, matched: offset };
    let skip = page.cursor === undefined && filtered ? offset : 0;
    const budget = Math.max(LIST_SCAN_MAX, limit);
    const entries: DeadLetterView[] = [];
    let position = from;
    let scanned = 0;
    let end = false;
    let window = ANCHOR_WINDOW;
    while (entries.length < limit && scanned < budget) {
      const want = Math.min(CHUNK, budget - scanned, filtered ? CHUNK : limit - entries.length);
      const chunk = await this.read(position, want, window);
      window = CHUNK; // only the cursor's own position can have moved far
      if (chunk.ids.length === 0) {
        end = true;
        break;
      }
      let index = chunk.index;
      let { matched, after } = position;
      for (const [k, job] of chunk.jobs.entries()) {
        after = chunk.ids[k];
        scanned += 1;
        // Gone since its id was read: it no longer takes an index (see `each`).
        if (job === undefined) continue;
        index += 1;
        if (!matchesFilter(job.data, filter)) continue;
        matched += 1;
        if (skip > 0) skip -= 1;
        else entries.push(view(job));
        if (entries.length >= limit) break;
      }
      position = { index, matched, ...(after !== undefined ? { after } : {}) };
      if (chunk.ids.length < want && entries.length < limit) {
        end = true;
        break;
      }
    }
    const queued = await this.queues.deadLetter.getWaitingCount();
    if (!end && position.index >= queued) end = true;
    // The cursor carries the matches before it, so the page that reaches the end knows the total.
    const total = !filtered ? queued : end ? position.matched : undefined;
    return {
      ...(total !== undefined ? { total } : {}),
      entries,
      ...(end ? {} : { next: encodeCursor(position, filter) }),
      scanned,
      queued,
    };
  }

  async show(id: string): Promise<DeadLetterView | undefined> {
    const job = await this.queues.deadLetter.getJob(id);
    return job === undefined ? undefined : view(job);
  }

  /** Puts matching entries back on the normal path, then removes them. */
  async replay(filter: DeadLetterFilter, options: { dryRun?: boolean } = {}): Promise<BulkActionResult> {
    const result = await this.each(filter, options.dryRun === true, async (job) => {
      const entry = job.data;
      if (entry.events !== undefined && entry.events.length > 0) {
        const source = entry.source ?? 'replay';
        const events = openStoredRows(entry.events);
        await this.queues.ingest.add(ingestJobName(events.length, source), {
          source,
          receivedAt: Date.now(),
          events,
        });
      }
      for (const visitor of entry.visitors ?? []) await this.store.restore(visitor.vk, visitor.attributes);
      await job.remove();
    });
    if (options.dryRun !== true)
      this.logger.info({ matched: result.matched, replayed: result.done, filter }, 'dead letters replayed');
    return result;
  }

  /** Deletes matching entries for good. */
  async purge(filter: DeadLetterFilter, options: { dryRun?: boolean } = {}): Promise<BulkActionResult> {
    const result = await this.each(filter, options.dryRun === true, (job) => job.remove());
    if (options.dryRun !== true)
      this.logger.warn({ matched: result.matched, purged: result.done, filter }, 'dead letters purged');
    return result;
  }

  /**
   * Rewrites every entry through `edit` (erasure: src/erasure/forget.ts): `undefined` leaves
   * it as it is, `null` removes it, an entry replaces its data. Walks the queue like replay
   * and purge, a chunk at a time. Returns how many entries were changed and removed.
   */
  async rewrite(
    edit: (entry: DeadLetter) => DeadLetter | null | undefined,
    redis: RedisClient,
  ): Promise<{ edited: number; removed: number }> {
    const counts = { edited: 0, removed: 0 };
    const queue = this.queues.deadLetter;
    await this.each({}, false, async (job) => {
      // BullMQ stored JSON.stringify(data): the text in hand. Only the entry as read is
      // rewritten, so another erasure editing it at once keeps its edit (src/jobs/replace-data.ts).
      const outcome = await editJobData(redis, queue, job.id ?? '', JSON.stringify(job.data), edit);
      if (outcome === 'edited') counts.edited += 1;
      if (outcome === 'removed') counts.removed += 1;
      // Gone: the walk's index stays put, as for a removal.
      return outcome === 'removed' || outcome === 'gone' ? undefined : 'kept';
    });
    return counts;
  }

  /**
   * Keeps the queue within `maxCount` entries and `maxAgeMs` of age, oldest first. Returns
   * how many were removed; the caller logs and counts it (trimming is never silent).
   */
  async trim(maxCount: number, maxAgeMs: number, now = Date.now()): Promise<number> {
    const queue = this.queues.deadLetter;
    let removed = 0;
    const excess = Math.max(0, (await queue.getWaitingCount()) - maxCount);
    // asc = true reads from the oldest end of the waiting list.
    for (const job of excess > 0 ? await queue.getJobs(['waiting'], 0, excess - 1, true) : []) {
      await job.remove();
      removed += 1;
    }
    for (;;) {
      const oldest = await queue.getJobs(['waiting'], 0, PAGE - 1, true);
      const expired = oldest.filter((j) => now - j.timestamp > maxAgeMs);
      for (const job of expired) await job.remove();
      removed += expired.length;
      if (expired.length < PAGE) break;
    }
    return removed;
  }

  /**
   * Walks the whole queue newest first, CHUNK entries at a time, and calls `act` on each
   * matching entry (on a dry run only counts them). `act` removes the entry, so the walk's
   * index stays put for it; it resumes behind the last entry it kept, wherever entries
   * written meanwhile (at the newest end, e.g. replayed events dead-lettered again) moved it.
   * Memory holds one chunk and at most ACTION_IDS_MAX ids, whatever the number of matches.
   */
  private async each(
    filter: DeadLetterFilter,
    dryRun: boolean,
    act: (job: Job<DeadLetter>) => Promise<void | 'kept'>,
  ): Promise<BulkActionResult> {
    const result: BulkActionResult = { matched: 0, done: 0, ids: [] };
    let position: ListPosition = { index: 0, matched: 0 };
    for (;;) {
      const chunk = await this.read(position, CHUNK, CHUNK);
      if (chunk.ids.length === 0) break;
      let index = chunk.index;
      let { after } = position;
      for (const [k, job] of chunk.jobs.entries()) {
        const id = chunk.ids[k] ?? '';
        // Gone since its id was read (removed by someone else): it no longer takes an index.
        // It is still the anchor, so an id left in the list without its job (a job hash
        // evicted by Redis) is stepped over instead of read again for ever.
        if (job === undefined) {
          after = id;
          continue;
        }
        const kept = () => {
          index += 1;
          after = id;
        };
        if (!matchesFilter(job.data, filter)) {
          kept();
          continue;
        }
        result.matched += 1;
        if (result.ids.length < ACTION_IDS_MAX) result.ids.push(id);
        else result.idsOmitted = (result.idsOmitted ?? 0) + 1;
        if (dryRun) {
          kept();
          continue;
        }
        // An act that keeps the entry (rewrote it) moves the walk past it, like a non-match.
        if ((await act(job)) === 'kept') kept();
        result.done += 1;
      }
      position = { index, matched: result.matched, ...(after !== undefined ? { after } : {}) };
      if (chunk.ids.length < CHUNK) break;
    }
    return result;
  }

  /**
   * Up to `count` entries from `position`, newest first: re-finds the entry the position
   * was left behind (`after`) within `window` entries either way, reads the ids from there,
   * then their jobs (undefined for an entry removed in between).
   */
  private async read(
    position: ListPosition,
    count: number,
    window: number,
  ): Promise<{ index: number; ids: string[]; jobs: Array<Job<DeadLetter> | undefined> }> {
    const queue = this.queues.deadLetter;
    let index = Math.max(0, position.index);
    let ids: string[];
    if (position.after === undefined) {
      ids = await queue.getRanges(['waiting'], index, index + count - 1, false);
    } else {
      const from = Math.max(0, index - window);
      const around = await queue.getRanges(['waiting'], from, index + window - 1, false);
      // Shorter than asked: the list ends within `around`, so it holds every id from `index` on.
      const listEnds = around.length < index + window - from;
      index = resumeIndex(around, from, position.after, index);
      ids =
        listEnds || index + count <= from + around.length
          ? around.slice(index - from, index - from + count)
          : await queue.getRanges(['waiting'], index, index + count - 1, false);
    }
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    return { index, ids, jobs: jobs.map((job) => job ?? undefined) };
  }
}

function view(job: Job<DeadLetter>): DeadLetterView {
  return { id: job.id ?? '', createdAt: job.timestamp, ...job.data };
}
