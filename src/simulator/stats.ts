/** One answered (or dropped) request. */
export interface RequestRecord {
  method: string;
  /** Path without the query string (queries may hold 60 KB of attributes). */
  path: string;
  /** HTTP status; 0 when the connection was dropped on purpose. */
  status: number;
  /** Epoch milliseconds when the answer went out. */
  at: number;
  /** Epoch milliseconds when the request came in (the gaps a client left between calls). */
  receivedAt?: number;
}

/** How many `requests` entries are kept; older ones are discarded first. */
export const REQUEST_LOG_CAP = 10_000;

/**
 * Counters a test reads to see what the client did. The endpoint counters count calls that
 * Target *accepted*; everything else shows up in `byStatus` and `requests`.
 */
export class SimulatorStats {
  /** Single Profile Update calls answered 200. */
  single = 0;
  /** Single Profile Update calls that came in, answered yet or not (a test can act while one is under way). */
  singleArrived = 0;
  /** Bulk v2 calls accepted (HTTP 200 with `success=true`). */
  bulk = 0;
  /** Bulk v1 calls accepted (HTTP 200 with `success=true`). */
  bulkV1 = 0;
  /** Bulk calls answered HTTP 200 with `success=false` (bad file). */
  bulkRejected = 0;
  /** Calls answered 503 by the shared per-minute limit (bulk, status, Admin API). */
  rateLimited = 0;
  /** Batch status calls answered 200. */
  status = 0;
  /** Batch status calls admitted by the shared limit (whatever the answer). */
  statusCalls = 0;
  /** Admin API profile-token calls answered 200 (GET and POST). */
  admin = 0;
  /** IMS access tokens issued. */
  ims = 0;
  /** Fetch Profile calls answered 200. */
  fetch = 0;
  /** Calls of other users (`otherUsers` fault) charged against the shared limit. */
  otherUsersCharged = 0;
  /** Attributes removed by the v2 override rule. */
  overrideRemovals = 0;
  /** Bulk rows counted as failed updates (listed in the status details or not). */
  failedRows = 0;
  /** Bulk rows counted as successful updates but never stored (`bulkRowLoss`, the `loseBulkRows` fault). */
  lostRows = 0;
  /** Connections dropped by `faults.dropConnections`. */
  dropped = 0;
  /** Every answered request by HTTP status (dropped connections are not here). */
  byStatus: Record<number, number> = {};
  /** The latest requests, oldest first, at most {@link REQUEST_LOG_CAP}. */
  requests: RequestRecord[] = [];

  /** Notes one finished request. */
  record(entry: RequestRecord): void {
    if (entry.status !== 0) this.byStatus[entry.status] = (this.byStatus[entry.status] ?? 0) + 1;
    this.requests.push(entry);
    if (this.requests.length > REQUEST_LOG_CAP) this.requests.shift();
  }

  /** Sets every counter back to zero and empties the request log. */
  reset(): void {
    this.single = 0;
    this.singleArrived = 0;
    this.bulk = 0;
    this.bulkV1 = 0;
    this.bulkRejected = 0;
    this.rateLimited = 0;
    this.status = 0;
    this.statusCalls = 0;
    this.fetch = 0;
    this.admin = 0;
    this.ims = 0;
    this.dropped = 0;
    this.otherUsersCharged = 0;
    this.overrideRemovals = 0;
    this.failedRows = 0;
    this.lostRows = 0;
    this.byStatus = {};
    this.requests = [];
  }
}
