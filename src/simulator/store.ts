import type { IdentityKind } from './identity.js';
import { MAX_PROFILE_BYTES } from './limits.js';

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
}

interface Entry {
  attributes: Map<string, StoredAttribute>;
  createdAt: Date;
  modifiedAt: Date;
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
 */
export class ProfileStore {
  private readonly profiles = new Map<string, Entry>();
  private readonly listeners = new Set<(write: ProfileWrite) => void>();
  private beforeAccess: () => void = () => undefined;

  /** @param maxProfileBytes per-visitor cap (names + values, UTF-8), default 64 KB. */
  constructor(private readonly maxProfileBytes = MAX_PROFILE_BYTES) {}

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
    const entry = this.profiles.get(profileKey(kind, id));
    return entry === undefined ? undefined : plain(entry);
  }

  /** The profile with per-attribute and per-profile `modifiedAt` (a copy). */
  getProfile(kind: IdentityKind, id: string): StoredProfile | undefined {
    this.beforeAccess();
    const entry = this.profiles.get(profileKey(kind, id));
    if (entry === undefined) return undefined;
    const attributes: Record<string, StoredAttribute> = Object.fromEntries(
      [...entry.attributes].map(([name, a]) => [name, { value: a.value, modifiedAt: a.modifiedAt }]),
    );
    return { kind, id, attributes, createdAt: entry.createdAt, modifiedAt: entry.modifiedAt };
  }

  /** Every profile, keyed `pc:<id>` / `3p:<id>` (copies). */
  all(): Map<string, Record<string, string>> {
    this.beforeAccess();
    return new Map([...this.profiles].map(([key, entry]) => [key, plain(entry)]));
  }

  /** Number of profiles. */
  get size(): number {
    this.beforeAccess();
    return this.profiles.size;
  }

  /** Forgets every profile (listeners stay). */
  clear(): void {
    this.profiles.clear();
  }

  /** Creates (or extends) a profile "Target already knows", e.g. before single updates. */
  seed(kind: IdentityKind, id: string, attrs: Record<string, string> = {}): void {
    this.beforeAccess();
    this.write(kind, id, new Map(Object.entries(attrs)), true, 'seed');
  }

  /**
   * Applies non-empty values to one profile. Empty strings are skipped: Target never clears
   * a value through these APIs. `tooLarge` leaves the profile untouched.
   */
  apply(
    kind: IdentityKind,
    id: string,
    attrs: ReadonlyMap<string, string>,
    options: { create: boolean; via: WriteSource },
  ): ApplyOutcome {
    this.beforeAccess();
    return this.write(kind, id, attrs, options.create, options.via);
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
    create: boolean,
    via: WriteSource,
  ): ApplyOutcome {
    const key = profileKey(kind, id);
    const at = new Date();
    const existing = this.profiles.get(key);
    let outcome: ApplyOutcome;
    if (existing === undefined && !create) {
      outcome = 'notFound';
    } else {
      const next = new Map(existing?.attributes);
      for (const [name, value] of attrs) {
        if (value !== '') next.set(name, { value, modifiedAt: at });
      }
      if (profileBytes(next) > this.maxProfileBytes) {
        outcome = 'tooLarge';
      } else {
        outcome = existing === undefined ? 'created' : 'updated';
        this.profiles.set(key, { attributes: next, createdAt: existing?.createdAt ?? at, modifiedAt: at });
      }
    }
    const write: ProfileWrite = { kind, id, attributes: Object.fromEntries(attrs), via, outcome, at };
    for (const listener of this.listeners) listener(write);
    return outcome;
  }
}

function plain(entry: Entry): Record<string, string> {
  return Object.fromEntries([...entry.attributes].map(([name, a]) => [name, a.value]));
}
