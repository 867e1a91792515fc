/**
 * How long Target keeps a profile. Adobe documents two weeks after the last activity by
 * default, raised per account to at most 90 days; and that the single update API "is for
 * updates only. If nothing is found, a profile is not created". So an update for an expired
 * profile answers success and stores nothing, while a v2 bulk row (which creates profiles)
 * brings it back.
 *
 * The simulator judges expiry by its clock `now()`: a profile whose last activity (a write
 * that landed: single, bulk, seed) is `lifetimeMs` or more ago is gone for every read. It
 * remembers which ids expired (at most `EXPIRED_IDS_KEPT`, oldest forgotten first), so that a
 * single update finds nothing even where `createOnSingleUpdate` would create a never-seen
 * id. Reads (fetch) are not activity: Adobe says fetch calls are not mbox calls.
 */

/** Default profile lifetime: two weeks after the last activity (documented). */
export const DEFAULT_PROFILE_LIFETIME_MS = 14 * 24 * 3600_000;

/** Longest lifetime an account can have: 90 days (documented). */
export const MAX_PROFILE_LIFETIME_MS = 90 * 24 * 3600_000;

/** Expired ids remembered (a memory guard; older ones read as never seen). */
export const EXPIRED_IDS_KEPT = 1_000_000;

/** The lifetime rule of one store. */
export class ProfileLifetime {
  private readonly expiredKeys = new Set<string>();

  /** @throws RangeError for a lifetime that is not positive or over 90 days. */
  constructor(
    readonly lifetimeMs: number = DEFAULT_PROFILE_LIFETIME_MS,
    readonly now: () => number = Date.now,
  ) {
    if (!(lifetimeMs > 0 && lifetimeMs <= MAX_PROFILE_LIFETIME_MS)) {
      throw new RangeError(
        `profileLifetimeMs must be over 0 and at most 90 days (${MAX_PROFILE_LIFETIME_MS} ms), got ${lifetimeMs}`,
      );
    }
  }

  /** Whether a profile last active at `lastActivityAt` is gone by now. */
  isExpired(lastActivityAt: number, now = this.now()): boolean {
    return now >= lastActivityAt + this.lifetimeMs;
  }

  /** Notes that the profile under `key` expired. */
  markExpired(key: string): void {
    this.expiredKeys.delete(key);
    this.expiredKeys.add(key);
    if (this.expiredKeys.size > EXPIRED_IDS_KEPT) {
      const oldest = this.expiredKeys.values().next();
      if (oldest.done !== true) this.expiredKeys.delete(oldest.value);
    }
  }

  /** Whether the profile under `key` expired (and was not created again since). */
  hasExpired(key: string): boolean {
    return this.expiredKeys.has(key);
  }

  /** The profile under `key` exists again. */
  revived(key: string): void {
    this.expiredKeys.delete(key);
  }

  /** Forgets every expired id. */
  clear(): void {
    this.expiredKeys.clear();
  }
}
