/**
 * Target's documented limits, and the simulator's written choices where Adobe is silent.
 * See /work/shared/target-profile-api.md; every number here is quoted from it unless marked.
 */

/** Largest GET request target (path + query) the Single Profile Update API accepts: 8 KB. */
export const SINGLE_GET_MAX_BYTES = 8192;

/** Largest POST (query string + body bytes) the Single Profile Update API accepts: 60 KB. */
export const SINGLE_POST_MAX_BYTES = 61_440;

/** A bulk file must be smaller than 50 MB; read as 50 MiB (not documented which). */
export const BULK_MAX_BODY_BYTES = 50 * 1024 * 1024;

/** Most data rows one bulk file may carry. */
export const BULK_MAX_ROWS = 500_000;

/** Bulk calls allowed per rolling minute before Target answers HTTP 503. */
export const BULK_CALLS_PER_MINUTE = 50;

/** Target keeps only this many batch statuses... */
export const BATCH_STATUS_KEEP = 10;

/** ...and each for at most 24 hours. */
export const BATCH_STATUS_TTL_MS = 24 * 60 * 60 * 1000;

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
