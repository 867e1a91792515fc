/**
 * The Adobe Target simulator: Single and Bulk (v1, v2) Profile Update, batch status, the
 * Fetch Profile API, and stand-ins for Adobe IMS and the Admin API's profile token
 * endpoint, with fault injection. It shows Target's documented behaviours by default:
 * batches that take time and link their status on an edge host, one 50-a-minute limit
 * shared with status polls and other users, the v2 override, listed failed rows, profile
 * expiry, token rotation. Start it with {@link startSimulator}; options in options.ts.
 */
export { startSimulator, type Simulator, type SimulatorOptions } from './server.js';
export { DEFAULT_IMS_CLIENT_ID, DEFAULT_IMS_CLIENT_SECRET } from './options.js';
export { parseBatchBody, type BatchRow, type BulkCellDecoding, type ParsedBatch } from './bulk-format.js';
export { ProfileStore, profileKey, type ApplyOutcome, type ProfileWrite, type StoredProfile } from './store.js';
export {
  FAULT_ENDPOINTS,
  FaultInjector,
  type FailureOptions,
  type FaultEndpoint,
  type OutageWindowOptions,
} from './faults.js';
export { SimulatorStats, type RequestRecord } from './stats.js';
export type { IdentityKind } from './identity.js';
export { EDGE_LEGACY_STATUS_HOST, EDGE_STATUS_HOST, batchStatusLink, type StatusLinkStyle } from './status-links.js';
export { ProfileTokenState, UNBOUNDED_EXPIRES_IN_SECONDS, type TokenCheck } from './auth.js';
export { DEFAULT_PROFILE_LIFETIME_MS, MAX_PROFILE_LIFETIME_MS } from './profile-lifetime.js';
export * as limits from './limits.js';
