import type { ImsTokens, ProfileTokenState } from './auth.js';
import type { BatchQueue } from './batches.js';
import type { BulkCellDecoding } from './bulk-format.js';
import type { BatchTiming, FaultInjector } from './faults.js';
import type { RollingWindowLimit } from './rate-limit.js';
import type { SimulatorStats } from './stats.js';
import type { StatusLinkStyle } from './status-links.js';
import type { ProfileStore } from './store.js';

/** How a profile call with failing credentials is answered. */
export type AuthFailureStatus = 401 | 403;

/** Simulator settings after defaults are applied. */
export interface ResolvedSettings {
  clientCode: string;
  /** Status of a profile call whose credentials fail (401, or 403). */
  authFailureStatus: AuthFailureStatus;
  /** Bearer token the `/_simulator/*` routes require; undefined = open. */
  controlToken: string | undefined;
  /** IMS client credentials (client_id is also the Admin API's x-api-key). */
  imsClientId: string;
  imsClientSecret: string;
  /** Tenant in Admin API paths. */
  adminTenant: string;
  createOnSingleUpdate: boolean | 'all' | 'pcId' | 'none';
  maxValueLength: number;
  bulkCellDecoding: BulkCellDecoding;
  statusLink: StatusLinkStyle;
  /** Processing time of batches when no `slowBatches` fault is set. */
  batchTiming: BatchTiming;
  /** Share of accepted bulk rows that never land (`bulkRowLoss`). */
  bulkRowLoss: number;
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
  /** The profile authentication token. */
  token: ProfileTokenState;
  /** IMS access tokens issued for the Admin API. */
  ims: ImsTokens;
  sharedLimitDescription: string;
  /** Base of `'self'` batch status links; known only once the server listens. */
  publicUrl(): string;
  /** The simulator's clock (epoch ms): batch completion, status retention, outage windows. */
  now: () => number;
  /** Random numbers in [0, 1): batch processing jitter, bulk row loss. */
  random: () => number;
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
