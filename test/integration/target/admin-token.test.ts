import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logger.js';
import { DEFAULT_IMS_CLIENT_ID, DEFAULT_IMS_CLIENT_SECRET } from '../../../src/simulator/options.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../../src/simulator/server.js';
import {
  createAdminTokenSource,
  type AdminTokenOptions,
  type AdminTokenSource,
} from '../../../src/target/admin-token.js';
import { CallBudget } from '../../../src/quota/budgets.js';
import { TargetClient } from '../../../src/target/client.js';
import { TokenSourceError } from '../../../src/target/token-source.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';
import { startTestPipeline } from '../../harness/pipeline.js';
import { memoryDestination } from '../ops/ops-server.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

const visitor = { kind: 'thirdPartyId' as const, id: 'CRM-ADMIN-TOKEN' };
const attrs = new Map([['tier', 'gold']]);
const HOUR = 3600_000;

describe('profile token from the Target Admin API (against the simulator)', () => {
  const lines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    pretty: false,
    destination: memoryDestination(lines),
    secretValues: [],
  });
  const sims: Simulator[] = [];
  const sources: AdminTokenSource[] = [];
  const seenTokens: string[] = [];
  let redis: Redis;
  const prefix = uniquePrefix('admin-token');

  beforeAll(() => {
    redis = newRedis();
  });
  afterEach(async () => {
    for (const source of sources.splice(0)) {
      const token = source.current();
      if (token !== undefined) seenTokens.push(token);
      await source.close();
    }
    for (const sim of sims.splice(0)) {
      seenTokens.push(sim.token.current);
      await sim.close();
    }
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
    const text = lines.join('\n');
    for (const secret of [...seenTokens, DEFAULT_IMS_CLIENT_SECRET])
      expect(text, 'a secret reached the log').not.toContain(secret);
  });

  const simulator = async (options: Partial<SimulatorOptions> = {}): Promise<Simulator> => {
    const sim = await startSimulator({
      ...NO_ROW_LOSS,
      clientCode: 'acme',
      authToken: 'admin-profile-token-0',
      ...options,
    });
    sims.push(sim);
    return sim;
  };
  const source = (sim: Simulator, options: Partial<AdminTokenOptions> = {}): AdminTokenSource => {
    const s = createAdminTokenSource({
      clientId: DEFAULT_IMS_CLIENT_ID,
      clientSecret: DEFAULT_IMS_CLIENT_SECRET,
      scopes: 'openid,AdobeID,target_sdk',
      tenant: 'acme',
      imsUrl: `${sim.url}/ims/token/v3`,
      adminUrl: sim.url,
      reserve: () => Promise.resolve({ granted: true, retryInMs: 0 }),
      logger,
      minRefreshIntervalMs: 0,
      ...options,
    });
    sources.push(s);
    return s;
  };

  it('reads the current profile token and delivers with it', async () => {
    const sim = await simulator();
    const tokens = source(sim);
    await tokens.start();
    expect(tokens.current()).toBe('admin-profile-token-0');
    expect(sim.stats.ims).toBe(1);
    expect(sim.stats.admin).toBe(1);
    const client = new TargetClient({ baseUrl: sim.url, clientCode: 'acme', token: tokens, timeoutMs: 2000 });
    try {
      expect(await client.updateSingle(visitor, attrs)).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('gets the new token on refresh() after a regeneration elsewhere, with the IMS token cached', async () => {
    const sim = await simulator();
    const tokens = source(sim);
    await tokens.start();
    expect(await tokens.refresh()).toBe(false);
    const response = await fetch(`${sim.url}/_simulator/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"action":"regenerate"}',
    });
    const { token: regenerated } = (await response.json()) as { token: string };
    expect(await tokens.refresh()).toBe(true);
    expect(tokens.current()).toBe(regenerated);
    expect(sim.stats.ims).toBe(1);
    expect(sim.stats.admin).toBe(3);
  });

  it('reads at most once per minRefreshIntervalMs however many 401s ask', async () => {
    const sim = await simulator();
    const tokens = source(sim, { minRefreshIntervalMs: 60_000 });
    await tokens.start();
    const answers = await Promise.all(Array.from({ length: 20 }, () => tokens.refresh()));
    expect(answers.every((changed) => !changed)).toBe(true);
    expect(sim.stats.admin).toBe(1);
  });

  it('never regenerates unless allowed, and then only a token close to expiry', async () => {
    // Two hours left: under the 24 h threshold, but regenerating is not allowed.
    let sim = await simulator({ tokenLifetimeMs: 2 * HOUR });
    let tokens = source(sim);
    await tokens.start();
    expect(tokens.current()).toBe('admin-profile-token-0');
    expect(sim.stats.admin).toBe(1);

    // Allowed, but 90 days left (no lifetime set): nothing to do.
    sim = await simulator();
    tokens = source(sim, { regenerate: true });
    await tokens.start();
    expect(tokens.current()).toBe('admin-profile-token-0');
    expect(sim.stats.admin).toBe(1);

    // Allowed, but another process holds the regeneration lock.
    sim = await simulator({ tokenLifetimeMs: 2 * HOUR });
    tokens = source(sim, { regenerate: true, claimRegenerate: () => Promise.resolve(false) });
    await tokens.start();
    expect(tokens.current()).toBe('admin-profile-token-0');

    // Allowed and two hours left: one POST, and the source holds the new token.
    sim = await simulator({ tokenLifetimeMs: 2 * HOUR });
    tokens = source(sim, { regenerate: true, regenerateBeforeMs: 24 * HOUR });
    await tokens.start();
    expect(tokens.current()).not.toBe('admin-profile-token-0');
    expect(tokens.current()).toBe(sim.token.current);
    expect(sim.stats.admin).toBe(2);
    // The fresh token lives two hours, under the threshold: it is not regenerated again at
    // every read (the threshold drops to half its life).
    expect(await tokens.refresh()).toBe(false);
    expect(sim.stats.admin).toBe(3);
    expect(lines.some((l) => l.includes('lives shorter than TARGET_TOKEN_REGENERATE_BEFORE_MS'))).toBe(true);
  });

  it('refuses to start with a wrong IMS secret, saying which settings to check and never the secret', async () => {
    const sim = await simulator();
    const wrong = 'wrong-client-secret-7f6e5d4c3b2a';
    const tokens = source(sim, { clientSecret: wrong });
    const failure = await tokens.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(TokenSourceError);
    const message = (failure as Error).message;
    expect(message).toBe(
      'Adobe IMS refused the credentials (HTTP 401 invalid_client): check TARGET_IMS_CLIENT_ID, TARGET_IMS_CLIENT_SECRET and TARGET_IMS_SCOPES',
    );
    expect(message).not.toContain(wrong);
    expect(tokens.current()).toBeUndefined();
    expect(await tokens.refresh()).toBe(false);
    expect(lines.join('\n')).not.toContain(wrong);
    expect(sim.stats.admin).toBe(0);
  });

  it('takes one call of the shared bulk budget per Admin API call, and waits while there is none', async () => {
    const sim = await simulator();
    const budget = new CallBudget(redis, prefix, { name: 'bulk', limit: 1, windowMs: 1000, bucketMs: 100 });
    const tokens = source(sim, { reserve: (n) => budget.reserve(n) });
    await tokens.start();
    expect((await budget.peek()).used).toBe(1);
    // The budget is spent: the next read waits until the window frees room, then goes ahead.
    await fetch(`${sim.url}/_simulator/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"action":"regenerate"}',
    });
    const started = Date.now();
    expect(await tokens.refresh()).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(tokens.current()).toBe(sim.token.current);
    expect(sim.stats.admin).toBe(2);
    expect((await budget.peek()).used).toBe(1);
  });

  it('backs a pipeline with TARGET_IMS_CLIENT_ID (a start without IMS reachable goes on), its Admin API calls counted in the bulk budget', async () => {
    const run = await startTestPipeline(
      {
        TARGET_IMS_CLIENT_ID: DEFAULT_IMS_CLIENT_ID,
        TARGET_IMS_CLIENT_SECRET: DEFAULT_IMS_CLIENT_SECRET,
        TARGET_IMS_URL: 'http://127.0.0.1:1/ims/token/v3',
        TARGET_ADMIN_URL: 'http://127.0.0.1:1',
      },
      ['deliver'],
    );
    // Nothing listens at port 1: a transient failure, retried in the background, not a start error.
    expect(run.pipeline.tokenSource?.current()).toBeUndefined();
    await run.close();

    const sim = await simulator();
    const ok = await startTestPipeline(
      {
        TARGET_IMS_CLIENT_ID: DEFAULT_IMS_CLIENT_ID,
        TARGET_IMS_CLIENT_SECRET: DEFAULT_IMS_CLIENT_SECRET,
        TARGET_IMS_URL: `${sim.url}/ims/token/v3`,
        TARGET_ADMIN_URL: sim.url,
      },
      ['deliver'],
    );
    try {
      expect(ok.pipeline.tokenSource?.current()).toBe('admin-profile-token-0');
      expect((await ok.pipeline.budgets.bulk.peek()).used).toBe(1);
    } finally {
      await ok.close();
    }
  });
});
