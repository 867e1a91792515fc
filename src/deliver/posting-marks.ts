import type { RedisClient } from '../redis/connection.js';
import { hashTag } from '../redis/keys.js';

/** How long a mark outlives a run that died: longer than any claim waits for its next run. */
const MARK_TTL_MS = 7 * 24 * 3600_000;

/**
 * Marks that a bulk claim's files are on their way to Target (src/deliver/deliver-bulk.ts):
 * set before a run's first POST, cleared once what was posted is recorded. A run that finds a
 * mark finds the files of a run that died while posting them: every visitor of the claim may
 * be at Target, untracked (src/deliver/untracked-copies.ts). One small key per claim, not a
 * rewrite of the job's data (its visitor list): that cost the deliver process 20 MB of RSS
 * growth over the quick W1 benchmark.
 */
export class PostingMarks {
  private readonly root: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.root = `${hashTag(prefix)}:posting:`;
  }

  /** When a run that died began posting this claim's files (epoch ms), if one did. */
  async of(claimId: string): Promise<number | undefined> {
    const at = await this.redis.get(this.root + claimId);
    return at === null ? undefined : Number(at);
  }

  async set(claimId: string, at: number): Promise<void> {
    await this.redis.set(this.root + claimId, String(at), 'PX', MARK_TTL_MS);
  }

  async clear(claimId: string): Promise<void> {
    await this.redis.del(this.root + claimId);
  }
}
