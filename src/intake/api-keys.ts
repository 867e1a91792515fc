import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKey } from '../config.js';

/**
 * Maps a presented API key to the source it belongs to. Config keeps only SHA-256 digests
 * (of plain keys, or given as `source:sha256:<hex>`); a presented key is hashed and
 * compared with every digest with `timingSafeEqual`. Hashing first gives equal-length
 * inputs, and comparing against all entries keeps the time independent of which one
 * matched, so the answer time tells an attacker nothing about any key.
 */
export class ApiKeyRing {
  private readonly entries: ReadonlyArray<{ source: string; digest: Buffer }>;

  constructor(keys: readonly ApiKey[]) {
    this.entries = keys.map((k) => ({ source: k.source, digest: Buffer.from(k.sha256, 'hex') }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The source whose key this is, or `undefined`. */
  sourceOf(presented: string): string | undefined {
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    let source: string | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(digest, entry.digest) && source === undefined) source = entry.source;
    }
    return source;
  }
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or `undefined`. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
