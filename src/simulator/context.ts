import type { BatchQueue } from './batches.js';
import type { BulkCellDecoding } from './bulk-format.js';
import type { BatchTiming, FaultInjector } from './faults.js';
import type { RollingWindowLimit } from './rate-limit.js';
import type { SimulatorStats } from './stats.js';
import type { StatusLinkStyle } from './status-links.js';
import type { ProfileStore } from './store.js';

/** Simulator settings after defaults are applied. */
export interface ResolvedSettings {
  clientCode: string;
  authToken: string | undefined;
  createOnSingleUpdate: boolean | 'all' | 'pcId' | 'none';
  maxValueLength: number;
  bulkCellDecoding: BulkCellDecoding;
  statusLink: StatusLinkStyle;
  /** Processing time of batches when no `slowBatches` fault is set. */
  batchTiming: BatchTiming;
}

/** What every route of one simulator shares. */
export interface SimulatorContext {
  settings: ResolvedSettings;
  store: ProfileStore;
  faults: FaultInjector;
  stats: SimulatorStats;
  batches: BatchQueue;
  /** The 50-a-minute limit Target counts for the Admin, Reporting and bulk APIs together. */
  sharedLimit: RollingWindowLimit;
  sharedLimitDescription: string;
  /** Base of `'self'` batch status links; known only once the server listens. */
  publicUrl(): string;
  /** The simulator's clock (epoch ms): batch completion, status retention, outage windows. */
  now: () => number;
  /** Random numbers in [0, 1): batch processing jitter. */
  random: () => number;
}

/** True when the Authorization header carries exactly `Bearer <token>` (scheme in any case). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const match = /^bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1] === token;
}

/** The query string of a raw request target, without `?`. */
export function rawQuery(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q + 1);
}

/** The path of a raw request target. */
export function rawPath(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
