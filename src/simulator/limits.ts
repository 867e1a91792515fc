/**
 * Target's documented limits, and the simulator's written choices where Adobe is silent.
 * Every number here is quoted from Adobe's documentation unless marked as a choice.
 */

/** Largest GET request target (path + query) the Single Profile Update API accepts: 8 KB. */
export const SINGLE_GET_MAX_BYTES = 8192;

/** Largest POST (query string + body bytes) the Single Profile Update API accepts: 60 KB. */
export const SINGLE_POST_MAX_BYTES = 61_440;

/**
 * A bulk file must be "under 50 MB". Adobe does not say whether MB is 10^6 or 2^20 bytes;
 * the strictest reading is 50,000,000 bytes, measured here on the whole request body.
 */
export const BULK_MAX_BODY_BYTES = 50_000_000;

/** Most data rows one bulk file may carry. */
export const BULK_MAX_ROWS = 500_000;

/** Bulk calls allowed per rolling minute before Target answers HTTP 503. */
export const BULK_CALLS_PER_MINUTE = 50;

/**
 * How long a batch status is answered after submit. Simulator choice: Adobe does not
 * document how long Target keeps statuses, nor how many.
 */
export const BATCH_STATUS_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Most statuses kept at once (oldest dropped first): a memory guard, not Target behaviour. */
export const BATCH_STATUS_CAP = 100_000;

/**
 * Default batch processing time of `startSimulator`. Adobe: "Updates generally occur in
 * under one hour, but might take as long as 24 hours". Non-zero so that a batch is
 * `incomplete` for a while after submit and nothing that assumes instant processing passes
 * here; short so tests stay fast (they move the clock for longer batches).
 */
export const LIBRARY_BATCH_PROCESSING_MS = 2_000;

/**
 * Batch processing time for `npm start` and the stand-alone `simulator` command: long
 * enough that a person watching the demo sees batches wait in the console, short enough
 * that a demo run shows them land.
 */
export const DEMO_BATCH_PROCESSING_MS = 30_000;

/** Attribute values over 256 characters are an error, not truncated. */
export const MAX_VALUE_LENGTH = 256;

/** Attribute names up to 128 characters. */
export const MAX_NAME_LENGTH = 128;

/** `mbox3rdPartyId` at most 256 characters. */
export const MAX_THIRD_PARTY_ID_LENGTH = 256;

/**
 * All external profile data of one visitor at or under 64 KB. Measured here as the UTF-8
 * bytes of every attribute name plus value (Adobe does not say how it measures).
 */
export const MAX_PROFILE_BYTES = 65_536;

/**
 * Share of bulk rows the simulator accepts, counts as successful and never stores, wherever
 * it runs. Adobe: "up to 0.1% of large production batches might not be onboarded or
 * retained". Runs that compare with an exact oracle ask for none (test/harness/no-row-loss.ts).
 */
export const DEFAULT_BULK_ROW_LOSS = 0.001;
