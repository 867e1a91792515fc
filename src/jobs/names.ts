import type { DeadLetter } from './catalog.js';

/**
 * Job names: labels that say on the dashboard (bull-board) what a job is, e.g.
 * `events ×500 from pos-eu`. Nothing dispatches on them: what a job does is its queue and its
 * data (a dead letter's stage is `data.stage`). The one exception is the flush queue, whose
 * scheduler jobs keep their fixed names `flush` and `trim-dead-letters` (src/flush/role.ts).
 */

/** Longest source shown in a name; a longer one is cut (the job data has it whole). */
const MAX_SOURCE_IN_NAME = 64;

/** `48,112`: thousands separated, whatever the process locale. */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** An ingest job: `events ×500 from pos-eu`. */
export function ingestJobName(events: number, source: string): string {
  const shown = source.length > MAX_SOURCE_IN_NAME ? `${source.slice(0, MAX_SOURCE_IN_NAME - 1)}…` : source;
  return `events ×${count(events)} from ${shown}`;
}

/** A delivery job: `single ×200 visitors`, `bulk ×48,112 visitors`. */
export function deliverJobName(mode: 'single' | 'bulk', visitors: number): string {
  return `${mode} ×${count(visitors)} ${visitors === 1 ? 'visitor' : 'visitors'}`;
}

/** A bulk-status job: `status of 3 batches`. */
export function bulkStatusJobName(batches: number): string {
  return `status of ${count(batches)} ${batches === 1 ? 'batch' : 'batches'}`;
}

/**
 * A dead letter: `<stage> <code> ×n`, n the visitors (delivery stages) or events (map) it
 * holds, e.g. `deliver-bulk TARGET_HTTP_400 ×500`. The stage is also `data.stage`, where the
 * dlq filters read it.
 */
export function deadLetterJobName(entry: Pick<DeadLetter, 'stage' | 'error' | 'visitors' | 'events'>): string {
  const n = entry.visitors?.length ?? entry.events?.length ?? 0;
  return `${entry.stage} ${entry.error.code} ×${count(n)}`;
}
