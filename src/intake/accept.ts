import type { Queue } from 'bullmq';
import type { IntakeMarks } from '../coalesce/dedupe.js';
import { validateEvent, visitorKey, type CompiledMapping } from '../events/index.js';
import type { IngestJob } from '../jobs/catalog.js';
import { ingestJobName } from '../jobs/names.js';

/** What intake tells a producer about one event of its batch. */
export type EventResult =
  | { index: number; id: string; status: 'accepted' | 'duplicate' }
  | { index: number; id?: string; status: 'rejected'; errors: string[] };

export interface AcceptSummary {
  accepted: number;
  duplicates: number;
  rejected: Array<{ index: number; errors: string[] }>;
  results: EventResult[];
}

export interface IntakeDeps {
  ingestQueue: Queue<IngestJob>;
  marks: IntakeMarks;
  mapping: CompiledMapping;
  maxValueLength: number;
  /** Most events one BullMQ job carries; larger batches become several jobs. */
  maxEventsPerJob?: number;
}

const DEFAULT_EVENTS_PER_JOB = 1000;

/**
 * Takes in one producer batch: validates every event (rejecting each bad one alone with its
 * reasons), reports ids already taken in as duplicates, stores the rest as BullMQ jobs of
 * many events each, and resolves only once Redis holds them (P1).
 */
export async function acceptEvents(
  deps: IntakeDeps,
  source: string,
  inputs: readonly unknown[],
  now = Date.now(),
): Promise<AcceptSummary> {
  const results: EventResult[] = new Array<EventResult>(inputs.length);
  const candidates: Array<{ index: number; id: string; vk: string; raw: unknown }> = [];
  const idsInBatch = new Set<string>();
  inputs.forEach((raw, index) => {
    const checked = validateEvent(raw, deps.mapping, { now, maxValueLength: deps.maxValueLength });
    if (!checked.ok) {
      results[index] = { index, status: 'rejected', errors: checked.errors, ...idOf(raw) };
      return;
    }
    const { id } = checked.event;
    if (idsInBatch.has(id)) {
      results[index] = { index, id, status: 'duplicate' };
      return;
    }
    idsInBatch.add(id);
    candidates.push({ index, id, vk: visitorKey(checked.event.visitor), raw });
  });

  const seen = await deps.marks.alreadySeen(source, candidates);
  const fresh = candidates.filter((c, i) => {
    if (seen[i] === true) {
      results[c.index] = { index: c.index, id: c.id, status: 'duplicate' };
      return false;
    }
    return true;
  });

  const perJob = deps.maxEventsPerJob ?? DEFAULT_EVENTS_PER_JOB;
  const jobs = [];
  for (let start = 0; start < fresh.length; start += perJob) {
    const slice = fresh.slice(start, start + perJob);
    jobs.push({
      name: ingestJobName(slice.length, source),
      data: { source, receivedAt: now, events: slice.map((c) => c.raw) },
    });
  }
  if (jobs.length > 0) await deps.ingestQueue.addBulk(jobs);
  // Marked after the jobs are stored: a crash in between makes a resend count as new at
  // intake, and the merge's own dedupe still applies it once.
  await deps.marks.markTaken(source, fresh);
  for (const c of fresh) results[c.index] = { index: c.index, id: c.id, status: 'accepted' };

  const rejected: AcceptSummary['rejected'] = [];
  let accepted = 0;
  let duplicates = 0;
  for (const r of results) {
    if (r.status === 'rejected') rejected.push({ index: r.index, errors: r.errors });
    else if (r.status === 'accepted') accepted += 1;
    else duplicates += 1;
  }
  return { accepted, duplicates, rejected, results };
}

function idOf(raw: unknown): { id?: string } {
  if (typeof raw === 'object' && raw !== null && 'id' in raw && typeof raw.id === 'string' && raw.id.length <= 128)
    return { id: raw.id };
  return {};
}
