import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { hashTag } from '../../redis/keys.js';
import type { RedisClient } from '../../redis/connection.js';
import type { ReadPosition } from './records.js';

/** How far an import got: saved after every batch Redis took, so a rerun resumes there. */
export interface Checkpoint extends ReadPosition {
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Size of the rejects file at this point; a resumed run cuts it back to this. */
  rejectsBytes: number;
  /** The whole file was read. */
  done: boolean;
  updatedAt: number;
}

const HEAD_BYTES = 64 * 1024;

/**
 * Names one file's import: SHA-256 of the source, the size and the first 64 KiB. The same
 * export copied or renamed resumes; a file that grew or changed starts over (dedupe still
 * reports every event taken before as a duplicate). The source is part of it because
 * event ids are deduplicated per source.
 */
export async function fileFingerprint(path: string, source: string): Promise<string> {
  const { size } = await stat(path);
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    await handle.read(head, 0, head.length, 0);
    return createHash('sha256').update(`${source}\0${size}\0`).update(head).digest('hex').slice(0, 32);
  } finally {
    await handle.close();
  }
}

/**
 * Checkpoints live in the pipeline's Redis, next to the dedupe marks they go with, and
 * expire with the dedupe window: after that, resuming could no longer be told apart from
 * sending the events again.
 */
export class CheckpointStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  private key(fingerprint: string): string {
    return `${hashTag(this.prefix)}:import:${fingerprint}`;
  }

  async load(fingerprint: string): Promise<Checkpoint | undefined> {
    const raw = await this.redis.get(this.key(fingerprint));
    return raw === null ? undefined : (JSON.parse(raw) as Checkpoint);
  }

  async save(fingerprint: string, checkpoint: Checkpoint): Promise<void> {
    await this.redis.set(this.key(fingerprint), JSON.stringify(checkpoint), 'PX', this.ttlMs);
  }
}
