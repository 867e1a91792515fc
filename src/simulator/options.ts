import type { BulkCellDecoding } from './bulk-format.js';
import type { StatusLinkStyle } from './status-links.js';

/** Default IMS client id of the simulator (not a secret: the simulator is a test double). */
export const DEFAULT_IMS_CLIENT_ID = 'target-ingest-simulator';

/** Default IMS client secret of the simulator. */
export const DEFAULT_IMS_CLIENT_SECRET = 'simulator-client-secret';

/** Which unknown ids a single update creates: see {@link SimulatorOptions.createOnSingleUpdate}. */
export type SingleUpdateCreates = boolean | 'all' | 'pcId' | 'none';

/**
 * How to run the simulated Adobe Target. Every default shows what Adobe documents (or, where
 * Adobe is silent, the strictest reading), so that nothing passes here that would break
 * against the real Target; the options exist to turn a behaviour down for a test that is
 * about something else, and to move time (`now`).
 */
export interface SimulatorOptions {
  /** The only client code accepted in paths and `?client=`; others get HTTP 400. */
  clientCode: string;
  /**
   * The profile authentication token. When set, every profile call (single, bulk, status,
   * fetch) must carry `Authorization: Bearer <token>`, else 401 (`authFailureStatus`).
   * Without it authentication is off until the token is set, regenerated or expired at run
   * time (`POST /_simulator/token`, the Admin API's POST, `simulator.token`). See auth.ts.
   */
  authToken?: string;
  /** The profile token expires this long after it was issued (by `now`). Default: never. */
  tokenLifetimeMs?: number;
  /** Status of a profile call whose token is missing, wrong or expired: 401 or 403. Default 401. */
  authFailureStatus?: 401 | 403;
  /**
   * Bearer token the `/_simulator/*` control routes require. Default: none, open (the
   * simulator binds 127.0.0.1); control stays usable whatever happens to the profile token.
   */
  controlToken?: string;
  /** Client id the simulated IMS accepts (also the Admin API's `x-api-key`). Default `target-ingest-simulator`. */
  imsClientId?: string;
  /** Client secret the simulated IMS accepts. Default `simulator-client-secret`. */
  imsClientSecret?: string;
  /** Tenant of Admin API paths (`/<tenant>/target/...`). Default: `clientCode`. */
  adminTenant?: string;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on. Default 0 (a free port). */
  port?: number;
  /** Added latency per profile call (single, bulk, status; not fetch). Default 0. */
  latencyMs?: number;
  /**
   * How long a bulk batch stays `incomplete` before its rows land and it is `complete`, by
   * the clock `now`. Default `LIBRARY_BATCH_PROCESSING_MS` (2 s): Adobe documents
   * "under one hour, … as long as 24 hours", so a batch must stay `incomplete` for a while
   * after submit (nothing that assumes instant processing passes here), while tests stay
   * fast; move `now` to simulate batches of minutes or hours.
   */
  batchProcessingMs?: number;
  /**
   * Each batch takes `batchProcessingMs + random() * batchProcessingJitterMs`, so batches can
   * complete out of order, as Target's may. Default 0.
   */
  batchProcessingJitterMs?: number;
  /**
   * How long a batch status is answered after submit (Adobe does not document how long
   * Target keeps them; the simulator's choice is 24 h). Default 24 h. At most
   * `BATCH_STATUS_CAP` (limits.ts) statuses are kept; the oldest go first.
   */
  statusRetentionMs?: number;
  /**
   * The v2 override, strictest reading (see store.ts): a v2 row removes from the profile
   * every attribute the previous v2 row for it set and this row does not carry. Adobe
   * documents an override between consecutive v2 batches without saying its scope. Default
   * true.
   */
  v2Override?: boolean;
  /**
   * List failed rows in the batch status details, one
   * `<profile><id>ID</id><status>failed</status></profile>` each (documented in Adobe's May
   * 2020 release notes). Default true.
   */
  listFailedRows?: boolean;
  /**
   * Profiles expire this long after their last activity, by the clock `now` (Adobe: two
   * weeks by default, at most 90 days; see profile-lifetime.ts). An expired profile is gone
   * for fetch; a single update to it answers success and stores nothing; a v2 row creates
   * it again. Default 14 days; over 90 days is refused with a RangeError.
   */
  profileLifetimeMs?: number;
  /**
   * Share (0–1) of accepted bulk rows that never land: the batch counts them as successful
   * updates and the profile never gets them. Adobe documents that "up to 0.1% of large
   * production batches might not be onboarded or retained". Default 0.001
   * (DEFAULT_BULK_ROW_LOSS), as everywhere the simulator runs; tests and bench runs that
   * compare Target with an exact oracle ask for 0 and say why (test/harness/no-row-loss.ts).
   * The `loseBulkRows` fault loses chosen rows.
   */
  bulkRowLoss?: number;
  /** Random numbers in [0, 1) for the processing jitter and `bulkRowLoss`. Default `Math.random`. */
  random?: () => number;
  /** Fastify `logger` option, or a pino logger instance. Default false. */
  logger?: boolean | object;
  /**
   * Which single updates for an id the simulator has never seen create the profile. Target
   * creates none (documented) and still answers success. `'pcId'`: an `mboxPC` was issued
   * by Target, so its profile exists — created on first sight; an unknown `mbox3rdPartyId`
   * is not (the faithful reading, used by the stand-alone simulator, `npm start` and the
   * oracle tests). `true`/`'all'` creates every profile (tests that never made a visitor
   * known); `false`/`'none'` none. Default true.
   */
  createOnSingleUpdate?: SingleUpdateCreates;
  /** Bulk calls admitted per rolling window before 503 (documented: 50). Default 50. */
  bulkCallsPerMinute?: number;
  /** Length of that rolling window in ms; shorten it in tests. Default 60,000. */
  bulkRateWindowMs?: number;
  /** Longest attribute value in characters (documented 256). Default 256. */
  maxValueLength?: number;
  /**
   * Whether bulk cells are percent-decoded once more after the documented form layer.
   * Adobe documents only the form layer, so `'none'` (default) stores cells as they stand
   * after it; `'percent'` emulates a Target that decodes cells again (see parseBatchBody).
   */
  bulkCellDecoding?: BulkCellDecoding;
  /**
   * Which `<batchStatus>` link a submit answer carries (see status-links.ts): `'edge'` the
   * documented `http://mboxedge45.tt.omtrdc.net/m2/<client>/profile/batchStatus?batchId=<id>`,
   * `'edge-legacy'` the older documented `http://mboxedge19.tt.omtrdc.net/m2/<client>/v2/profile/batchStatus?batchId=<id>&m2Node=00`,
   * `'self'` the simulator's own `publicUrl`. Default `'edge'`.
   */
  statusLink?: StatusLinkStyle;
  /** Base URL of `'self'` status links, e.g. when reached through Docker. Default `url`. */
  publicUrl?: string;
  /**
   * The clock (epoch ms) that completes batches, ages batch statuses and times outage
   * windows. Default `Date.now`; tests pass one they can move.
   */
  now?: () => number;
}
