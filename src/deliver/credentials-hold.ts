import { randomUUID } from 'node:crypto';
import { CredentialsRefusedError, classifyError } from '../errors.js';
import { hashTag } from '../redis/keys.js';
import { loadLua } from '../redis/lua-source.js';
import type { Logger } from '../logger.js';
import type { RedisClient } from '../redis/connection.js';
import type { TargetClient } from '../target/client.js';

/**
 * The pipeline-wide hold on Target refusing our credentials (P10). Adobe: the profile token
 * "expires according to the time listed in the Expires In box", and "resetting this token
 * will cause API calls using the current token to fail"; anyone with Approver rights can
 * regenerate it. So a 401 or 403 says nothing about a visitor's data: the first one, from
 * any endpoint and any process, opens a hold recorded in Redis. While it holds, every
 * delivery job of every process waits (values stay in the visitor store, nothing is
 * dead-lettered, no budget is spent) and one process at a time probes Target with one cheap
 * authenticated call (the Fetch Profile API, which does not count against mbox calls),
 * with backoff; the hold lifts itself when the probe gets through. Before each probe the
 * token source is asked to re-read (a rotated token file, the Admin API), and a changed
 * token is probed at once, so a new token ends a hold within seconds.
 *
 * Keys (under the pipeline's hash tag): `hold:credentials` (hash: since, status, probes,
 * nextProbeAt, tokenChanged), `hold:credentials:probe` (probe lock), `hold:credentials:log`
 * (one error line a minute across processes).
 */

/** The state of a hold, as every process reads it. */
export interface HoldState {
  /** When the hold opened (epoch ms). */
  since: number;
  /** The HTTP status that opened it (or was last seen): 401 or 403. */
  status: number;
  /** Probes made since it opened. */
  probes: number;
  /** Whether the token changed since the hold opened (a 403 then means rights, not expiry). */
  tokenChanged: boolean;
}

/** What a probe found. */
export type ProbeResult = 'accepted' | 'refused' | 'unreachable';

export interface CredentialsHoldOptions {
  /** One cheap authenticated call; `refused` on 401/403. */
  probe: () => Promise<{ result: ProbeResult; status?: number }>;
  /** Re-reads the token (file or Admin API); true when it changed. Absent: a fixed token. */
  refreshToken?: () => Promise<boolean>;
  /** The token now (a file watcher may have read a new one before `refreshToken` runs). */
  currentToken?: () => string | undefined;
  logger: Logger;
  /** First wait between probes; doubles per refused probe up to `maxProbeMs`. Default 2 s. */
  firstProbeMs?: number;
  /** Longest wait between probes. Default 30 s. */
  maxProbeMs?: number;
  /** How long a process trusts its last read of the hold. Default 500 ms. */
  cacheMs?: number;
  /** How often a held process looks for a changed token or a due probe. Default 1 s. */
  tickMs?: number;
}

/** Opens a hold unless one is open; see the file's header for its inputs and output. */
const OPEN_HOLD = loadLua(new URL('./lua/open-hold.lua', import.meta.url));

/** Deletes the probe lock only if this process still owns it. */
const RELEASE_PROBE = loadLua(new URL('./lua/release-probe.lua', import.meta.url));

/** Named after what an operator must do; the runbook (docs/operations.md) says the same. */
const WHAT_TO_DO =
  'renew the profile API token (Target: Administration > Implementation > Profile API, or the Admin API) and write it into TARGET_AUTH_TOKEN_FILE; delivery resumes by itself';

export class CredentialsHold {
  private readonly key: string;
  private cached: { at: number; state: HoldState | undefined } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** The token this process last probed with, to see a new one however it arrived. */
  private probedToken: string | undefined;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly options: CredentialsHoldOptions,
  ) {
    this.key = credentialsHoldKey(prefix);
  }

  /** The hold, or undefined when Target accepts our credentials. Cached briefly per process. */
  async state(): Promise<HoldState | undefined> {
    const now = Date.now();
    if (this.cached !== undefined && now - this.cached.at < (this.options.cacheMs ?? 500)) return this.cached.state;
    const state = await readCredentialsHold(this.redis, this.key);
    this.cached = { at: now, state };
    return state;
  }

  /** How long a job should wait before it looks again (a probe may lift the hold sooner). */
  retryInMs(): number {
    return this.options.tickMs ?? 1000;
  }

  /**
   * Opens the hold (or notes the status again) after Target answered 401/403. One script
   * call, so no process can see a hold without its probe schedule.
   */
  async open(status: number, now = Date.now()): Promise<void> {
    const opened = await this.redis.eval(
      OPEN_HOLD,
      1,
      this.key,
      String(now),
      String(status),
      String(this.options.firstProbeMs ?? 2000),
      String(this.options.maxProbeMs ?? 30_000),
    );
    if (opened === 1)
      this.options.logger.error(
        { status },
        `Target refused our credentials (HTTP ${status}): every delivery is held, nothing is dropped; ${WHAT_TO_DO}`,
      );
    this.cached = undefined;
  }

  /** Starts looking, every tick, for a changed token or a due probe while a hold is open. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(
      () =>
        void this.tick().catch((error: unknown) =>
          this.options.logger.warn({ err: error }, 'credentials hold: probe round failed'),
        ),
      this.options.tickMs ?? 1000,
    );
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    while (this.ticking) await new Promise((r) => setTimeout(r, 10));
  }

  /** One round: re-read the token, probe when the token changed or the probe is due; exported for tests. */
  async tick(now = Date.now()): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      this.cached = undefined;
      const state = await this.state();
      if (state === undefined) return;
      const refreshed = (await this.options.refreshToken?.()) ?? false;
      const token = this.options.currentToken?.();
      const changed = refreshed || (this.probedToken !== undefined && token !== this.probedToken);
      if (changed) await this.redis.hset(this.key, 'tokenChanged', '1', 'nextProbeAt', '0');
      const due = Number(await this.redis.hget(this.key, 'nextProbeAt'));
      if (!changed && now < due) return this.logStillHeld(state);
      // One probe at a time across processes; the lock is released only by its owner.
      const owner = randomUUID();
      if ((await this.redis.set(`${this.key}:probe`, owner, 'PX', 30_000, 'NX')) !== 'OK') return;
      try {
        await this.probe(state, now);
      } finally {
        await this.redis.eval(RELEASE_PROBE, 1, `${this.key}:probe`, owner);
      }
    } finally {
      this.ticking = false;
    }
  }

  private async probe(state: HoldState, now: number): Promise<void> {
    this.probedToken = this.options.currentToken?.();
    const { result, status } = await this.options.probe();
    if (result === 'accepted') {
      await this.redis.del(this.key);
      await this.redis.set(`${this.key}:recent`, String(state.probes + 1), 'PX', 60_000);
      this.cached = undefined;
      this.options.logger.warn(
        { heldMs: now - state.since, probes: state.probes + 1 },
        'Target accepts our credentials again: delivery resumes',
      );
      return;
    }
    const probes = state.probes + 1;
    await this.redis.hset(
      this.key,
      'probes',
      String(probes),
      'nextProbeAt',
      String(now + this.probeWait(probes)),
      ...(status !== undefined ? ['status', String(status)] : []),
    );
    await this.logStillHeld({ ...state, probes, ...(status !== undefined ? { status } : {}) });
  }

  /** The wait before the next probe after `probes` probes: doubling, capped. */
  private probeWait(probes: number): number {
    return Math.min(this.options.maxProbeMs ?? 30_000, (this.options.firstProbeMs ?? 2000) * 2 ** Math.min(probes, 20));
  }

  /** One error line a minute across all processes while the hold lasts. */
  private async logStillHeld(state: HoldState): Promise<void> {
    if ((await this.redis.set(`${this.key}:log`, '1', 'PX', 60_000, 'NX')) !== 'OK') return;
    const minutes = Math.round((Date.now() - state.since) / 60_000);
    const hint =
      state.status === 403 && state.tokenChanged
        ? 'Target still answers 403 after the token changed: the token lacks rights for the profile APIs, or "Require Authentication" uses another token'
        : WHAT_TO_DO;
    this.options.logger.error(
      { status: state.status, heldMinutes: minutes, probes: state.probes },
      `delivery held: Target refuses our credentials (HTTP ${state.status}); ${hint}`,
    );
  }
}

/** The Redis key of a pipeline's credentials hold. */
export function credentialsHoldKey(prefix: string): string {
  return `${hashTag(prefix)}:hold:credentials`;
}

/** Reads a hold without holding anything (metrics, console): undefined when none is open. */
export async function readCredentialsHold(redis: RedisClient, key: string): Promise<HoldState | undefined> {
  const raw = await redis.hgetall(key);
  if (raw.since === undefined) return undefined;
  return {
    since: Number(raw.since),
    status: Number(raw.status),
    probes: Number(raw.probes ?? 0),
    tokenChanged: raw.tokenChanged === '1',
  };
}

/** A thirdPartyId no producer sends: the probe reads it (404 when Target has no such profile). */
const PROBE_VISITOR = 'target-ingest-credentials-probe';

/**
 * The probe: one Fetch Profile API call (authenticated, and not counted against mbox
 * calls). Any answer that is not 401/403 (a profile, or 404 for none) means the credentials
 * pass.
 */
export async function probeCredentials(
  client: Pick<TargetClient, 'fetchProfile'>,
): Promise<{ result: ProbeResult; status?: number }> {
  try {
    await client.fetchProfile({ kind: 'thirdPartyId', id: PROBE_VISITOR });
    return { result: 'accepted' };
  } catch (error) {
    if (error instanceof CredentialsRefusedError)
      return { result: 'refused', ...(error.details.status !== undefined ? { status: error.details.status } : {}) };
    const classified = classifyError(error);
    // A 404 is handled by fetchProfile; any other refusal than 401/403 still proves the token passed.
    return { result: classified.kind === 'permanent' ? 'accepted' : 'unreachable' };
  }
}
