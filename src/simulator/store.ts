import type { IdentityKind } from './identity.js';
import { MAX_PROFILE_BYTES } from './limits.js';
import { ProfileLifetime } from './profile-lifetime.js';

export type { IdentityKind } from './identity.js';

/** One attribute as Target keeps it. */
export interface StoredAttribute {
  value: string;
  modifiedAt: Date;
}

/** A profile with its timestamps, as the Fetch Profile API reports it. */
export interface StoredProfile {
  kind: IdentityKind;
  id: string;
  attributes: Record<string, StoredAttribute>;
  createdAt: Date;
  /** When any attribute last changed (or when the profile was created). */
  modifiedAt: Date;
}

/** What an update did: `notFound` when the id is unknown and creation was not allowed. */
export type ApplyOutcome = 'created' | 'updated' | 'notFound' | 'tooLarge';

/** Which API wrote (or tried to write) a profile. */
export type WriteSource = 'single' | 'bulk' | 'seed';

/** One attempted write, for listeners that check ordering (e.g. "no overtaking"). */
export interface ProfileWrite {
  kind: IdentityKind;
  id: string;
  attributes: Record<string, string>;
  via: WriteSource;
  outcome: ApplyOutcome;
  at: Date;
  /** Attributes the v2 override rule removed with this write (absent when none). */
  removed?: string[];
}

/** How one write is done. */
export interface WriteOptions {
  /** Create the profile when Target has none; else the outcome is `notFound`. */
  create: boolean;
  via: WriteSource;
  /** A v2 bulk row with the override rule on (see {@link ProfileStore}). Default false. */
  v2Override?: boolean;
  /**
   * An update-only API (bulk v1; single updates always are): `create` stands for ids the
   * simulator takes as existing, never for a profile Target had and let expire.
   */
  updateOnly?: boolean;
}

interface Entry {
  attributes: Map<string, StoredAttribute>;
  createdAt: Date;
  modifiedAt: Date;
  /** Clock time (epoch ms) of the last write that landed: the lifetime counts from here. */
  lastActivityAt: number;
  /** Names the last v2 row applied to this profile set (override rule). */
  lastV2Names?: Set<string>;
}

/** The key `all()` uses: `pc:<id>` for mboxPC / pcId, `3p:<id>` for thirdPartyId. */
export function profileKey(kind: IdentityKind, id: string): string {
  return kind === 'pcId' ? `pc:${id}` : `3p:${id}`;
}

function profileBytes(attributes: Map<string, StoredAttribute>): number {
  let bytes = 0;
  for (const [name, { value }] of attributes) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/**
 * The simulator's profile database. pcId and thirdPartyId profiles are separate: the
 * simulator does not merge a CRM id into a visitor id the way Target's mbox calls can.
 * Attributes live in Maps so a name such as `__proto__` is data, not a prototype.
 *
 * The v2 override. Adobe: "Consecutive v2 batch update calls without mbox calls in between
 * for the same thirdPartyIds override the properties updated in the first batch update
 * call." Adobe leaves open what exactly is overridden. The simulator takes the strictest
 * reading (`v2Override` writes): it remembers, per profile, the names the last v2 row set;
 * when a later v2 row is applied to that profile, every one of those names that the new
 * row does not carry with a non-empty value is removed from the profile, whoever wrote it
 * since; then the remembered names become the new row's. There are no mbox calls in the
 * simulator, so nothing in between resets this: not a single update, not a v1 row. The rule
 * applies to pcId profiles too (Adobe names thirdPartyIds; strictest reading).
 *
 * Lifetime: profiles expire `lifetimeMs` after their last activity (profile-lifetime.ts);
 * timestamps (`modifiedAt`) follow the same clock.
 */
export class ProfileStore {
  private readonly profiles = new Map<string, Entry>();
  private readonly listeners = new Set<(write: ProfileWrite) => void>();
  private beforeAccess: () => void = () => undefined;

  private readonly lifetime: ProfileLifetime;

  /**
   * @param maxProfileBytes per-visitor cap (names + values, UTF-8), default 64 KB.
   * @param options.now the clock (epoch ms) of expiry and timestamps. Default `Date.now`.
   * @param options.lifetimeMs profile lifetime after the last activity. Default 14 days.
   */
  constructor(
    private readonly maxProfileBytes = MAX_PROFILE_BYTES,
    options: { now?: () => number; lifetimeMs?: number } = {},
  ) {
    this.lifetime = new ProfileLifetime(options.lifetimeMs, options.now);
  }

  /**
   * Runs `hook` before every read or write: the batch queue lands batches whose time has
   * come by the clock, so whoever looks sees what Target would show at that moment.
   */
  setBeforeAccess(hook: () => void): void {
    this.beforeAccess = hook;
  }

  /** Attribute name (without `profile.`) → value, or undefined when Target has no such profile. */
  get(kind: IdentityKind, id: string): Record<string, string> | undefined {
    this.beforeAccess();
    const entry = this.live(profileKey(kind, id));
    return entry === undefined ? undefined : plain(entry);
  }

  /** The profile with per-attribute and per-profile `modifiedAt` (a copy). */
  getProfile(kind: IdentityKind, id: string): StoredProfile | undefined {
    this.beforeAccess();
    const entry = this.live(profileKey(kind, id));
    if (entry === undefined) return undefined;
    const attributes: Record<string, StoredAttribute> = Object.fromEntries(
      [...entry.attributes].map(([name, a]) => [name, { value: a.value, modifiedAt: a.modifiedAt }]),
    );
    return { kind, id, attributes, createdAt: entry.createdAt, modifiedAt: entry.modifiedAt };
  }

  /** Every profile, keyed `pc:<id>` / `3p:<id>` (copies). */
  all(): Map<string, Record<string, string>> {
    this.beforeAccess();
    this.sweep();
    return new Map([...this.profiles].map(([key, entry]) => [key, plain(entry)]));
  }

  /** Number of profiles. */
  get size(): number {
    this.beforeAccess();
    this.sweep();
    return this.profiles.size;
  }

  /** Forgets every profile (listeners stay). */
  clear(): void {
    this.profiles.clear();
    this.lifetime.clear();
  }

  /** Creates (or extends) a profile "Target already knows", e.g. before single updates. */
  seed(kind: IdentityKind, id: string, attrs: Record<string, string> = {}): void {
    this.beforeAccess();
    this.write(kind, id, new Map(Object.entries(attrs)), { create: true, via: 'seed' });
  }

  /**
   * Applies non-empty values to one profile. Empty strings are skipped: Target never clears
   * a value through these APIs (only the v2 override removes, see above). `tooLarge` leaves
   * the profile untouched.
   */
  apply(kind: IdentityKind, id: string, attrs: ReadonlyMap<string, string>, options: WriteOptions): ApplyOutcome {
    this.beforeAccess();
    return this.write(kind, id, attrs, options).outcome;
  }

  /** Like {@link apply}, and says which attributes the v2 override removed. */
  applyRow(
    kind: IdentityKind,
    id: string,
    attrs: ReadonlyMap<string, string>,
    options: WriteOptions,
  ): { outcome: ApplyOutcome; removed: string[] } {
    this.beforeAccess();
    return this.write(kind, id, attrs, options);
  }

  /** The profile under `key` unless it expired (then it is dropped and remembered as expired). */
  private live(key: string): Entry | undefined {
    const entry = this.profiles.get(key);
    if (entry === undefined || !this.lifetime.isExpired(entry.lastActivityAt)) return entry;
    this.profiles.delete(key);
    this.lifetime.markExpired(key);
    return undefined;
  }

  /** Drops every expired profile (for listings and counts). */
  private sweep(): void {
    const now = this.lifetime.now();
    for (const [key, entry] of this.profiles) {
      if (!this.lifetime.isExpired(entry.lastActivityAt, now)) continue;
      this.profiles.delete(key);
      this.lifetime.markExpired(key);
    }
  }

  /** Calls `listener` after every attempted write; returns the function that unsubscribes. */
  onWrite(listener: (write: ProfileWrite) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private write(
    kind: IdentityKind,
    id: string,
    attrs: ReadonlyMap<string, string>,
    options: WriteOptions,
  ): { outcome: ApplyOutcome; removed: string[] } {
    const key = profileKey(kind, id);
    const now = this.lifetime.now();
    const at = new Date(now);
    const existing = this.live(key);
    // Single updates never create (documented); for an id Target had and let expire, not
    // even where the simulator creates never-seen ids (`createOnSingleUpdate`).
    const create =
      options.create && !((options.via === 'single' || options.updateOnly === true) && this.lifetime.hasExpired(key));
    let outcome: ApplyOutcome;
    let removed: string[] = [];
    if (existing === undefined && !create) {
      outcome = 'notFound';
    } else {
      const next = new Map(existing?.attributes);
      const carried = new Set<string>();
      for (const [name, value] of attrs) {
        if (value === '') continue;
        next.set(name, { value, modifiedAt: at });
        carried.add(name);
      }
      const override = options.v2Override === true;
      if (override)
        removed = [...(existing?.lastV2Names ?? [])].filter((name) => !carried.has(name) && next.delete(name));
      if (profileBytes(next) > this.maxProfileBytes) {
        outcome = 'tooLarge';
        removed = [];
      } else {
        outcome = existing === undefined ? 'created' : 'updated';
        const lastV2Names = override ? carried : existing?.lastV2Names;
        if (existing === undefined) this.lifetime.revived(key);
        this.profiles.set(key, {
          attributes: next,
          createdAt: existing?.createdAt ?? at,
          modifiedAt: at,
          lastActivityAt: now,
          ...(lastV2Names !== undefined ? { lastV2Names } : {}),
        });
      }
    }
    const write: ProfileWrite = {
      kind,
      id,
      attributes: Object.fromEntries(attrs),
      via: options.via,
      outcome,
      at,
      ...(removed.length > 0 ? { removed } : {}),
    };
    for (const listener of this.listeners) listener(write);
    return { outcome, removed };
  }
}

function plain(entry: Entry): Record<string, string> {
  return Object.fromEntries([...entry.attributes].map(([name, a]) => [name, a.value]));
}
