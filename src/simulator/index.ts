/**
 * The Adobe Target simulator: Single and Bulk (v1, v2) Profile Update, batch status, the
 * Fetch Profile API, with fault injection. Start it with {@link startSimulator}.
 */
export { startSimulator, type Simulator, type SimulatorOptions } from './server.js';
export { parseBatchBody, type BatchRow, type BulkCellDecoding, type ParsedBatch } from './bulk-format.js';
export { ProfileStore, profileKey, type ApplyOutcome, type ProfileWrite, type StoredProfile } from './store.js';
export { FAULT_ENDPOINTS, FaultInjector, type FailureOptions, type FaultEndpoint, type OutageWindowOptions } from './faults.js';
export { SimulatorStats, type RequestRecord } from './stats.js';
export type { IdentityKind } from './identity.js';
export { EDGE_LEGACY_STATUS_HOST, EDGE_STATUS_HOST, batchStatusLink, type StatusLinkStyle } from './status-links.js';
export * as limits from './limits.js';
