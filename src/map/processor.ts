import type { Job } from 'bullmq';
import type { DeadLetters } from '../dlq/writer.js';
import { invalidInputLetter } from '../dlq/writer.js';
import {
  ENVELOPE_RULES,
  mapCheckedEvent,
  validateEvent,
  type CompiledMapping,
  type ValidEvent,
} from '../events/index.js';
import { jobLogger, type Logger } from '../logger.js';
import { readJobData, type IngestJob } from '../jobs/catalog.js';
import { ingestEvents } from '../jobs/ingest-rows.js';
import { MergeIncompleteError, type MergeOutcome, type VisitorStore } from '../coalesce/store.js';

export interface MapDeps {
  store: VisitorStore;
  mapping: CompiledMapping;
  deadLetters: DeadLetters;
  maxValueLength: number;
  logger: Logger;
}

export type MapSummary = Record<MergeOutcome | 'invalid', number>;

function emptySummary(): MapSummary {
  return { applied: 0, duplicate: 0, late: 0, superseded: 0, replayed: 0, suppressed: 0, invalid: 0 };
}

/** Adds merge outcomes to a summary; events without one (their call failed) are not counted. Pure. */
export function countOutcomes(
  outcomes: ReadonlyArray<MergeOutcome | undefined>,
  summary: MapSummary = emptySummary(),
): MapSummary {
  for (const outcome of outcomes) if (outcome !== undefined) summary[outcome] += 1;
  return summary;
}

/**
 * What a failed attempt of an ingest job merged before its merge failed part way
 * (MergeIncompleteError), for the counts fed from the workers' `failed` event
 * (src/metrics/pipeline-events.ts, src/console/flow-watch.ts): the retry reports those events
 * as `replayed`, so they are counted now or never. Events this attempt found `replayed` are
 * not (an earlier attempt counted them), nor are invalid ones (the retry validates, and
 * counts, them again). Undefined for any other failure. Pure.
 */
export function mergedBeforeFailure(error: unknown): MapSummary | undefined {
  if (!(error instanceof MergeIncompleteError)) return undefined;
  // `replayed`: merged by an earlier attempt, which counted them then.
  return { ...countOutcomes(error.merged), replayed: 0 };
}

/**
 * The map worker's job: validate and map every event of one producer batch (the envelope is
 * not checked again when intake checked it, see IngestJob.checkedEnvelope), dead-letter the
 * bad ones alone, and merge the rest into the visitor store in one round trip (script calls
 * of about 100 events, each atomic: VisitorStore.merge).
 * Safe to run twice for the same job (a crash after the merge): the merge knows the batch by
 * its job id and creation time, changes nothing and reports the events as `replayed`.
 */
export function createMapProcessor(deps: MapDeps) {
  if (deps.mapping.validationOnly) {
    // Such a mapping leaves hashed attributes out; mapping with it would silently drop them.
    throw new Error('the map worker needs a mapping resolved with its salts, not one for validation only');
  }
  return async (job: Job<IngestJob>): Promise<MapSummary> => {
    const data = readJobData('ingest', job);
    const { source, receivedAt, checkedEnvelope } = data;
    const events = ingestEvents(data);
    // Intake checked these envelopes under the same rules: map them without checking again.
    const check = checkedEnvelope === ENVELOPE_RULES ? mapCheckedEvent : validateEvent;
    const log = jobLogger(deps.logger, job);
    const summary = emptySummary();
    const valid: ValidEvent[] = [];
    for (const [index, raw] of events.entries()) {
      // Validate against the intake time, so "not in the future" means the same on a retry.
      const checked = check(raw, deps.mapping, { now: receivedAt, maxValueLength: deps.maxValueLength });
      if (checked.ok) {
        valid.push(checked.event);
      } else {
        summary.invalid += 1;
        await deps.deadLetters.add(
          invalidInputLetter('map', source, raw, checked.errors, Date.now()),
          `map-${job.id ?? 'x'}-${index}`,
        );
      }
    }
    // Job ids restart after a queue is obliterated; with the creation time they stay unique.
    let outcomes: MergeOutcome[];
    try {
      outcomes = await deps.store.merge(source, valid, Date.now(), `${job.id ?? ''}@${job.timestamp}`, job.timestamp);
    } catch (error) {
      const merged = mergedBeforeFailure(error);
      if (merged !== undefined) log.warn({ source, events: events.length, merged }, 'merge failed part way; retrying');
      throw error;
    }
    countOutcomes(outcomes, summary);
    log.debug({ source, events: events.length, ...summary }, 'merged batch');
    return summary;
  };
}
