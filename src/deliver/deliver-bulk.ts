import { randomUUID } from 'node:crypto';
import type { FirstPollEstimate } from './first-poll.js';
import type { Job, Queue } from 'bullmq';
import type { VisitorSnapshot } from '../coalesce/store.js';
import { PipelineError, bulkSubmitMayLand, classifyError } from '../errors.js';
import { addUntracked, untrackedOf } from './untracked-copies.js';
import type { PostingMarks } from './posting-marks.js';
import { parseVisitorKey, visitorKey, type VisitorRef } from '../events/index.js';
import { readJobData, type BulkStatusJob, type DeliverJob } from '../jobs/catalog.js';
import { bulkStatusJobName, deliverJobName } from '../jobs/names.js';
import { BulkFileBuilder, mergeOldest, type OldestTimes } from '../target/bulk-file.js';
import { planBulkVisitor, type PcIdRoute } from './bulk-rows.js';
import type { BulkApi } from '../target/client.js';
import { PROFILE_DATA_LIMIT_BYTES, profileDataBytes } from '../target/single-request.js';
import { noteOldest, type DeliverySummary } from './deliver-single.js';
import {
  deadLetterVisitors,
  holdOnRefusal,
  pauseBulkOn503,
  postpone,
  retryOrGiveUp,
  waitWhileHeld,
  type DeliveryDeps,
} from './delivery-context.js';

export interface BulkDeliveryDeps extends DeliveryDeps {
  statusQueue: Queue<BulkStatusJob>;
  /** When to read a batch's status first: learnt from how long batches take (src/deliver/first-poll.ts). */
  firstPoll: FirstPollEstimate;
  /** Where pcId visitors go (BULK_PCID_ROUTE): v1 files (ECID implementations), v2 files, or single updates. */
  pcIdRoute: PcIdRoute;
  /** Claims whose files are on their way to Target (src/deliver/posting-marks.ts). */
  postingMarks: PostingMarks;
}

/** Visitors read from Redis at a time: their snapshots (about 2 KB each) go once their rows are in the builder. */
export const BULK_READ_CHUNK = 2000;

/** What is kept of a claim's (or a batch's) visitors after reading them in chunks. */
export interface ReadRows {
  builder: BulkFileBuilder;
  /** Visitors over Target's 64 KB profile limit, to dead-letter by themselves (rare: kept whole). */
  oversize: VisitorSnapshot[];
  /** Visitors with no row: their values go by single update now (see planBulkVisitor). */
  toSingle: string[];
  /** Visitors no documented route can deliver (see planBulkVisitor), to dead-letter. */
  notEncodable: VisitorSnapshot[];
}

/**
 * Reads these visitors BULK_READ_CHUNK at a time with `read` into a file builder, so a
 * 50,000-visitor claim never sits in memory as snapshots (it used to: 100 MB a claim, two
 * claims at once, and deliver processes peaked at 480–640 MB in the 1,000,000-event bench).
 * Each visitor is planned by planBulkVisitor (src/deliver/bulk-rows.ts): a row with every
 * value it may carry, or single delivery, or nothing. Target refuses a visitor's data over
 * 64 KB; in a bulk file that shows only as a failed update in the batch counts, so such a
 * visitor is kept apart, to be dead-lettered alone.
 */
export async function readRows(
  visitors: readonly string[],
  read: (chunk: string[]) => Promise<VisitorSnapshot[]>,
  known: (vks: string[]) => Promise<boolean[]>,
  pcIdRoute: PcIdRoute,
): Promise<ReadRows> {
  const rows: ReadRows = { builder: new BulkFileBuilder(), oversize: [], toSingle: [], notEncodable: [] };
  for (let i = 0; i < visitors.length; i += BULK_READ_CHUNK) {
    const snapshots = await read(visitors.slice(i, i + BULK_READ_CHUNK));
    const knownNow = await known(snapshots.map((s) => s.vk));
    for (const [k, s] of snapshots.entries()) {
      const plan = planBulkVisitor(s, knownNow[k] === true, pcIdRoute);
      if (plan.kind === 'single') {
        rows.toSingle.push(s.vk);
        continue;
      }
      if (plan.kind === 'not-encodable') {
        rows.notEncodable.push(s);
        continue;
      }
      if (profileDataBytes(plan.values) > PROFILE_DATA_LIMIT_BYTES) {
        rows.oversize.push(s);
        continue;
      }
      const oldest: OldestTimes = {};
      noteOldest(oldest, s);
      rows.builder.add(parseVisitorKey(s.vk), plan.values, oldest);
    }
  }
  return rows;
}

/** The error for values no documented route can deliver (see planBulkVisitor). */
export function notEncodable(): PipelineError {
  return new PipelineError(
    'values holding %, comma, quote, CR or LF (or an mbox3rdPartyId holding one) have no documented bulk encoding, and the single update API cannot create the profile of an mbox3rdPartyId Target may not know; replay once other values of this visitor were delivered',
    'BULK_VALUE_NOT_ENCODABLE',
    'permanent',
  );
}

/**
 * Dead-letters what a read found undeliverable (oversize, not encodable) and hands the
 * visitors that go by single update to single delivery. Returns how many were dead-lettered.
 */
export async function settleReadRows(
  deps: BulkDeliveryDeps,
  stage: 'deliver-bulk' | 'bulk-status',
  job: Job,
  claimId: string,
  read: ReadRows,
  /** Visitors of the claim whose earlier call or file may still land (DeliverJob.answerLost). */
  answerLost: readonly string[] = [],
): Promise<number> {
  if (read.oversize.length > 0) await deadLetterVisitors(deps, stage, job, claimId, read.oversize, profileTooLarge());
  if (read.notEncodable.length > 0)
    await deadLetterVisitors(deps, stage, job, claimId, read.notEncodable, notEncodable());
  await handOverToSingle(deps, claimId, read.toSingle, answerLost);
  return read.oversize.length + read.notEncodable.length;
}

/**
 * Moves visitors of a bulk claim to a new claim delivered by single updates (values no bulk
 * file may carry, or pcIds kept on single updates). Their values may fold in newer ones again.
 */
export async function handOverToSingle(
  deps: DeliveryDeps,
  claimId: string,
  vks: readonly string[],
  answerLost: readonly string[] = [],
): Promise<number> {
  if (vks.length === 0) return 0;
  const singleClaim = randomUUID();
  const moved = await deps.store.moveClaim(claimId, singleClaim, vks, Date.now(), { thaw: true });
  if (moved.length === 0) return 0;
  // With the single budget spent, auto mode's single delivery would hand these straight back
  // to bulk, which hands them back again: they wait a budget bucket instead of ping-ponging.
  const single = await deps.budgets.single.peek();
  const delay = single.remaining < moved.length ? deps.budgets.single.settings.bucketMs : 0;
  // A mark that an earlier call may still land goes along: single delivery reads those back.
  const lost = new Set(answerLost);
  const marked = lost.size === 0 ? [] : moved.filter((vk) => lost.has(vk));
  await deps.queues.deliverSingle.add(
    deliverJobName('single', moved.length),
    { claimId: singleClaim, visitors: moved, ...(marked.length > 0 ? { answerLost: marked } : {}) },
    { jobId: singleClaim, ...(delay > 0 ? { delay } : {}) },
  );
  return moved.length;
}

/** The API a file of this identity kind goes to. */
export function apiFor(kind: VisitorRef['kind'], pcIdRoute: PcIdRoute): BulkApi {
  return kind === 'pcId' && pcIdRoute === 'v1' ? 'v1' : 'v2';
}

/** The error a visitor over the 64 KB profile data limit is dead-lettered with. */
export function profileTooLarge(): PipelineError {
  return new PipelineError(
    `visitor update over Target's ${PROFILE_DATA_LIMIT_BYTES}-byte profile data limit`,
    'PROFILE_TOO_LARGE',
    'permanent',
  );
}

/** The frozen snapshots of these visitors again, for a dead letter (values as submitted). */
function reread(deps: BulkDeliveryDeps, claimId: string, vks: readonly string[]): Promise<VisitorSnapshot[]> {
  return deps.store.snapshot(claimId, vks, Date.now(), { freeze: true });
}

/**
 * Delivers one claim through the Bulk Profile Update API v2: the newest values of every
 * visitor in the claim go into batch files (split by identity kind, 500,000 rows, 50 MB),
 * each posted form-style after taking a call from the shared 50-per-minute bulk budget.
 * The claim stays held until Target reports the batch `complete` (a delayed bulk-status job
 * polls it), so no later update for these visitors can overtake the batch (P4).
 */
export function createBulkDeliveryProcessor(deps: BulkDeliveryDeps) {
  return async (job: Job<DeliverJob>, token?: string): Promise<DeliverySummary> => {
    const { claimId, visitors } = readJobData('deliver', job);
    const log = deps.logger.child({ queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 });
    const summary: DeliverySummary = {
      mode: 'bulk',
      delivered: 0,
      calls: 0,
      deadLettered: 0,
      retrying: 0,
      rerouted: 0,
    };
    // A status job for this claim means an earlier run of this job submitted its files and
    // died before it could finish: the batches are with Target and being polled.
    if ((await deps.statusQueue.getJob(claimId)) !== undefined) {
      log.info({ claimId }, 'bulk files of this claim were submitted by an earlier run: nothing to do');
      await deps.postingMarks.clear(claimId);
      return summary;
    }
    await waitWhileHeld(deps, job, token);
    // Frozen: the status poll acks exactly these values, whatever runs after this one.
    const now = Date.now();
    const read = await readRows(
      visitors,
      (chunk) => deps.store.snapshot(claimId, chunk, now, { freeze: true }),
      (vks) => deps.store.knownVisitors(vks),
      deps.pcIdRoute,
    );
    summary.deadLettered += await settleReadRows(deps, 'deliver-bulk', job, claimId, read, job.data.answerLost);
    summary.rerouted += read.toSingle.length;
    if (read.builder.rows === 0) return summary;
    const files = read.builder.build();
    const budget = await deps.budgets.bulk.reserve(files.length);
    if (!budget.granted) {
      log.info({ claimId, files: files.length, retryInMs: budget.retryInMs }, 'bulk call budget spent: waiting');
      return postpone(job, token, budget.retryInMs);
    }
    const earlier = job.data.submitted ?? [];
    const batches: BulkStatusJob['batches'] = [];
    const firstPollMs = await deps.firstPoll.current();
    // Before the first POST, a mark says that files are on their way: a run killed during
    // them (or failing before the status job exists) leaves every visitor of the claim
    // possibly at Target, untracked, and the next run counts them so. A failing POST records
    // what it knows in the job, then clears the mark (below).
    const killedAt = await deps.postingMarks.of(claimId);
    const data: DeliverJob =
      killedAt === undefined ? job.data : { ...job.data, ...addUntracked(job.data, visitors, killedAt) };
    await deps.postingMarks.set(claimId, Date.now());
    for (const [index, file] of files.entries()) {
      const fileVks = file.visitors.map(visitorKey);
      // Taken before the POST: Target's clock for the batch starts when it receives the
      // file, so time since the answer would understate how long batches take, and the
      // learnt first poll (src/deliver/first-poll.ts) would come before the batch is done.
      const sentAt = Date.now();
      try {
        const statusUrl = await deps.client.submitBulk(file.body, apiFor(file.kind, deps.pcIdRoute));
        summary.calls += 1;
        batches.push({ statusUrl, visitors: fileVks, submittedAt: sentAt, polls: 0, resubmits: 0, firstPollMs });
        mergeOldest(summary, file.oldest);
      } catch (error) {
        const classified = classifyError(error);
        // Files already posted are at Target: the next run (or the status job) keeps them
        // tracked, so the claim holds until they complete too. A file whose answer was lost
        // may be at Target untracked: its visitors are read back once a later batch carrying
        // them completes (src/deliver/untracked-copies.ts). Both are written before a hold
        // can postpone the job.
        const lost = bulkSubmitMayLand(classified) ? fileVks : [];
        if (classified.kind === 'transient') {
          await job.updateData({
            ...data,
            ...(earlier.length + batches.length > 0 ? { submitted: [...earlier, ...batches] } : {}),
            ...addUntracked(data, lost, sentAt),
          });
          await deps.postingMarks.clear(claimId);
        }
        await holdOnRefusal(deps, job, token, classified);
        if (await pauseBulkOn503(deps, classified)) {
          // Not this data's fault, and no attempt spent (P10): the claim waits for the pause.
          // Every file goes again with the rest (same rows); the earlier posts stay tracked.
          return postpone(job, token, (await deps.budgets.bulk.peek()).pausedForMs);
        }
        if (classified.kind === 'transient') {
          // All files of the claim that are not dead-lettered go again on the retry:
          // resending values Target already took is harmless, and it keeps one status job
          // per claim.
          log.info(
            { claimId, code: classified.code, status: classified.details.status },
            'bulk submit failed: retrying',
          );
          const pending = [
            ...batches.flatMap((b) => b.visitors),
            ...files.slice(index).flatMap((f) => f.visitors.map(visitorKey)),
          ];
          return retryOrGiveUp(
            deps,
            'deliver-bulk',
            job,
            token,
            claimId,
            () => reread(deps, claimId, pending),
            classified,
          );
        }
        const rejected = await reread(deps, claimId, fileVks);
        await deadLetterVisitors(deps, 'deliver-bulk', job, claimId, rejected, classified);
        summary.deadLettered += rejected.length;
      }
    }
    if (batches.length + earlier.length > 0) {
      // Job id = claim id: the flusher's lease sweep finds it and keeps the claim alive.
      const tracked = [...earlier, ...batches];
      await deps.statusQueue.add(
        bulkStatusJobName(tracked.length),
        { claimId, batches: tracked, ...untrackedOf(data) },
        { jobId: claimId, delay: firstPollMs },
      );
    }
    await deps.postingMarks.clear(claimId);
    summary.delivered = batches.reduce((n, b) => n + b.visitors.length, 0);
    summary.rowsPerFile = batches.map((b) => b.visitors.length);
    log.info({ claimId, visitors: visitors.length, files: files.length, ...summary }, 'bulk submitted');
    return summary;
  };
}
