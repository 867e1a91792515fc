import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import type { PipelineError } from '../errors.js';
import { UNKNOWN_SOURCE, type DeadLetter, type Stage } from '../jobs/catalog.js';
import { deadLetterJobName } from '../jobs/names.js';
import { editJobData } from '../jobs/replace-data.js';
import type { RedisClient } from '../redis/connection.js';
import { visitorKeysOf, withoutVisitors } from './visitor-filter.js';

/**
 * Most visitors (delivery stages) or events (map and intake stages) one dead-letter entry
 * holds; a larger failure is written as several entries ({@link splitDeadLetter}). A stuck
 * bulk claim of 50,000 visitors was one multi-megabyte job: Redis sends it whole to every
 * reader (list pages, bull-board, replay), and replaying it was all or nothing. 500 visitors
 * with a few attributes of up to MAX_VALUE_LENGTH (256) characters stay within a few hundred
 * kilobytes; the admin reads 100 entries at a time (CHUNK in src/dlq/admin.ts), so what one
 * read holds is bounded by this limit too, not by the size of the largest failure.
 */
export const DEAD_LETTER_MAX_ITEMS = 500;

/** Writes entries to the dead-letter queue (a BullMQ queue, so dashboards show it). */
export class DeadLetters {
  private readonly listeners: Array<(entry: DeadLetter) => void> = [];

  constructor(
    private readonly queue: Queue<DeadLetter>,
    private readonly maxItems = DEAD_LETTER_MAX_ITEMS,
    /**
     * `suppressed`: which of these visitor keys are forgotten (src/erasure/forget.ts). Asked
     * after each entry is written, so a delivery or map job that held a visitor's values when
     * it was forgotten cannot write them back: the suppression starts before the forget
     * rewrites the existing dead letters, so every entry is either rewritten or checked here.
     * `redis` makes that rewrite apply only to the entry as read (src/jobs/replace-data.ts).
     */
    private readonly scrubbing?: {
      suppressed: (vks: readonly string[]) => Promise<ReadonlySet<string>>;
      redis: RedisClient;
    },
  ) {}

  /**
   * Adds an entry; a `dedupeId` makes a retried stage write the same entry only once. An
   * entry of more than DEAD_LETTER_MAX_ITEMS visitors or events is written as parts with ids
   * `<dedupeId>-part-<n>` ({@link partJobId}), so a retried stage still writes each part
   * once. Without a `dedupeId` the parts share a generated group id (an operator sees which
   * parts belong together); a retry then writes them again, as it did the whole entry before.
   * Listeners hear of the failure once, with the whole entry (dead_letters counts failures).
   */
  async add(entry: DeadLetter, dedupeId?: string): Promise<void> {
    const parts = splitDeadLetter(entry, dedupeId ?? `dl-${randomUUID()}`, this.maxItems);
    if (parts.length === 1) {
      await this.scrub(
        await this.queue.add(deadLetterJobName(entry), entry, dedupeId !== undefined ? { jobId: dedupeId } : {}),
      );
    } else {
      // One at a time, oldest part first: each is small, and a crash part way leaves whole parts.
      for (const part of parts) {
        const n = part.part?.n ?? 0;
        await this.scrub(
          await this.queue.add(deadLetterJobName(part), part, { jobId: partJobId(part.part?.group ?? '', n) }),
        );
      }
    }
    for (const listener of this.listeners) listener(entry);
  }

  /** Takes what forgotten visitors left in a just-written entry back out (or the whole entry). */
  private async scrub(job: Job<DeadLetter>): Promise<void> {
    if (this.scrubbing === undefined || job.id === undefined) return;
    const { suppressed, redis } = this.scrubbing;
    const vks = visitorKeysOf(job.data);
    if (vks.length === 0) return;
    const gone = await suppressed(vks);
    if (gone.size === 0) return;
    // A forget running meanwhile may have rewritten the entry already: only the entry as read
    // is replaced, else it is read again (src/jobs/replace-data.ts).
    await editJobData(redis, this.queue, job.id, JSON.stringify(job.data), (entry) => withoutVisitors(entry, gone));
  }

  /** Called after every entry this process writes (metrics, logs). */
  onAdded(listener: (entry: DeadLetter) => void): void {
    this.listeners.push(listener);
  }
}

/** The error part of a dead letter, from a classified error. */
export function describeError(error: PipelineError): DeadLetter['error'] {
  return {
    class: error.name,
    code: error.code,
    message: error.message,
    ...(error.details.status !== undefined ? { status: error.details.status } : {}),
    ...(error.details.bodyExcerpt !== undefined ? { bodyExcerpt: error.details.bodyExcerpt } : {}),
  };
}

/** A dead letter for input that failed validation at a stage (no retry can fix it). */
export function invalidInputLetter(
  stage: Stage,
  source: string,
  event: unknown,
  errors: string[],
  at: number,
): DeadLetter {
  return {
    stage,
    source,
    events: [event],
    error: { class: 'ValidationError', code: 'EVENT_INVALID', message: errors.join('; ') },
    attempts: 1,
    firstAttemptAt: at,
    lastAttemptAt: at,
  };
}

/**
 * The job id of part `n` of a split dead letter. `-part-`, not `:part-`: BullMQ refuses a
 * custom job id with a single colon in it (it reserves those for repeatable jobs).
 */
export function partJobId(group: string, n: number): string {
  return `${group}-part-${n}`;
}

type Visitors = NonNullable<DeadLetter['visitors']>;

/**
 * `source` and `sources` of a delivery-stage entry from its visitors: `sources` lists every
 * source their values came from, `source` is that one source when there is exactly one and
 * every visitor's values have a known source, else UNKNOWN_SOURCE. Pure.
 */
export function visitorSources(visitors: Visitors): { source: string; sources?: string[] } {
  const sources = [...new Set(visitors.flatMap((v) => v.sources ?? []))].sort();
  const known = visitors.every((v) => (v.sources?.length ?? 0) > 0);
  return {
    source: known && sources.length === 1 ? (sources[0] ?? UNKNOWN_SOURCE) : UNKNOWN_SOURCE,
    ...(sources.length > 0 ? { sources } : {}),
  };
}

/**
 * Splits an entry of more than `maxItems` visitors or events into parts of at most
 * `maxItems` each, in order; part `n` of `of` carries `part: { n, of, group }`. Everything
 * else (stage, error, attempts, times) is the original's, so each part replays and filters
 * on its own. A delivery entry's `source`/`sources` are narrowed to the part's visitors when
 * the original's were derived from its visitors ({@link visitorSources}), so a `--source`
 * filter finds only the parts that hold that producer's values. An entry within the limit
 * comes back alone and unchanged. Pure.
 */
export function splitDeadLetter(entry: DeadLetter, group: string, maxItems = DEAD_LETTER_MAX_ITEMS): DeadLetter[] {
  if (!Number.isSafeInteger(maxItems) || maxItems < 1)
    throw new RangeError(`maxItems: expected a whole number of at least 1, got ${maxItems}`);
  const events = entry.events ?? [];
  const visitors = entry.visitors ?? [];
  const of = Math.max(Math.ceil(events.length / maxItems), Math.ceil(visitors.length / maxItems));
  if (of <= 1) return [entry];
  const derived = entry.visitors !== undefined && sameSources(entry, visitorSources(visitors));
  const parts: DeadLetter[] = [];
  for (let i = 0; i < of; i += 1) {
    const part: DeadLetter = { ...entry, part: { n: i + 1, of, group } };
    if (entry.events !== undefined) part.events = events.slice(i * maxItems, (i + 1) * maxItems);
    if (entry.visitors !== undefined) {
      part.visitors = visitors.slice(i * maxItems, (i + 1) * maxItems);
      if (derived) {
        delete part.sources;
        Object.assign(part, visitorSources(part.visitors));
      }
    }
    parts.push(part);
  }
  return parts;
}

function sameSources(entry: DeadLetter, derived: { source: string; sources?: string[] }): boolean {
  return (
    (entry.source ?? UNKNOWN_SOURCE) === derived.source &&
    JSON.stringify(entry.sources ?? []) === JSON.stringify(derived.sources ?? [])
  );
}
