import { mkdtempSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { CredentialsRefusedError } from '../../../src/errors.js';
import { createLogger } from '../../../src/logger.js';
import { startSimulator, type Simulator } from '../../../src/simulator/server.js';
import { TargetClient } from '../../../src/target/client.js';
import {
  TokenSourceError,
  createProfileTokenSource,
  type RefreshableTokenSource,
} from '../../../src/target/token-source.js';
import { resolveMapping } from '../../../src/events/index.js';
import { startPipeline } from '../../../src/lifecycle/start-pipeline.js';
import { redisUrl, uniquePrefix } from '../../harness/context.js';
import { startTestPipeline } from '../../harness/pipeline.js';
import { memoryDestination } from '../ops/ops-server.js';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

const visitor = { kind: 'thirdPartyId' as const, id: 'CRM-TOKEN-FILE' };
const attrs = new Map([['tier', 'gold']]);

/** Waits until `check` holds, up to `ms`; returns how long it took. */
async function within(ms: number, check: () => boolean): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - started;
}

describe('profile token from TARGET_AUTH_TOKEN_FILE', () => {
  let dir: string;
  let sim: Simulator;
  const lines: string[] = [];
  // No secrets given: what keeps the tokens out of these lines is what the source registers.
  const logger = createLogger({
    level: 'debug',
    pretty: false,
    destination: memoryDestination(lines),
    secretValues: [],
  });
  const sources: RefreshableTokenSource[] = [];
  const tokens = ['file-token-one-0123456789', 'file-token-two-0123456789', 'file-token-three-012345678'] as const;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ti-token-'));
    sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme', authToken: tokens[0] });
  });
  afterEach(async () => {
    for (const source of sources.splice(0)) await source.close();
  });
  afterAll(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
    const text = lines.join('\n');
    for (const token of tokens) expect(text, 'a token reached the log').not.toContain(token);
  });

  const open = (path: string, pollMs?: number): RefreshableTokenSource => {
    const source = createProfileTokenSource({ path, logger, ...(pollMs !== undefined ? { pollMs } : {}) });
    sources.push(source);
    return source;
  };

  it("delivers with the file's token and picks up a new one written into it within seconds", async () => {
    const path = join(dir, 'rotate');
    writeFileSync(path, `${tokens[0]}\n`);
    const source = open(path);
    expect(source.current()).toBe(tokens[0]);
    const client = new TargetClient({ baseUrl: sim.url, clientCode: 'acme', token: source, timeoutMs: 2000 });
    try {
      expect(await client.updateSingle(visitor, attrs)).toBe(1);
      // Someone regenerates the token in Target: the old one fails at once.
      sim.token.set(tokens[1]);
      await expect(client.updateSingle(visitor, attrs)).rejects.toBeInstanceOf(CredentialsRefusedError);
      writeFileSync(path, `${tokens[1]}\r\n  \n`);
      const tookMs = await within(5000, () => source.current() === tokens[1]);
      expect(tookMs).toBeLessThan(3000);
      expect(await client.updateSingle(visitor, attrs)).toBe(1);
    } finally {
      await client.close();
      sim.token.set(tokens[0]);
    }
    // An error quoting the token, logged after the rotation, is masked.
    logger.error(new Error(`Target echoed ${tokens[1]}`), 'echo');
    expect(lines.at(-1)).toContain('[redacted]');
  });

  it('refresh() reads the file at once and says whether the token changed', async () => {
    const path = join(dir, 'refresh');
    writeFileSync(path, tokens[0]);
    // A long poll: only refresh() (or the watch) can see the change this quickly.
    const source = open(path, 60_000);
    expect(await source.refresh()).toBe(false);
    writeFileSync(path, tokens[2]);
    expect(await source.refresh()).toBe(true);
    expect(source.current()).toBe(tokens[2]);
  });

  it('follows a Kubernetes secret update: the ..data symlink swapped to a new directory', async () => {
    const mount = join(dir, 'mount');
    mkdirSync(join(mount, '..2026_01'), { recursive: true });
    writeFileSync(join(mount, '..2026_01', 'token'), tokens[0]);
    symlinkSync('..2026_01', join(mount, '..data'));
    symlinkSync(join('..data', 'token'), join(mount, 'token'));
    const source = open(join(mount, 'token'));
    expect(source.current()).toBe(tokens[0]);
    // What the kubelet does: write the new version aside, point a new link at it, rename it over ..data.
    mkdirSync(join(mount, '..2026_02'));
    writeFileSync(join(mount, '..2026_02', 'token'), `${tokens[2]}\n`);
    symlinkSync('..2026_02', join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
    rmSync(join(mount, '..2026_01'), { recursive: true });
    await within(5000, () => source.current() === tokens[2]);
  });

  it('keeps the last good token when the file turns empty or disappears, and says so once', async () => {
    const path = join(dir, 'flaky');
    writeFileSync(path, tokens[0]);
    const source = open(path, 100);
    const before = lines.length;
    writeFileSync(path, '\n');
    await new Promise((r) => setTimeout(r, 400));
    expect(await source.refresh()).toBe(false);
    rmSync(path);
    await new Promise((r) => setTimeout(r, 400));
    expect(source.current()).toBe(tokens[0]);
    const warnings = lines
      .slice(before)
      .map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string })
      .filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      msg: 'profile token file unusable: keeping the last token',
      reason: 'the file is empty',
    });
    writeFileSync(path, tokens[1]);
    await within(3000, () => source.current() === tokens[1]);
    expect(lines.slice(before).some((l) => l.includes('profile token file readable again'))).toBe(true);
  });

  it('refuses to start without a token in the file, naming the path and never a token', () => {
    const missing = join(dir, 'missing');
    expect(() => createProfileTokenSource({ path: missing, logger })).toThrow(TokenSourceError);
    expect(() => createProfileTokenSource({ path: missing, logger })).toThrow(
      `TARGET_AUTH_TOKEN_FILE: no profile token in ${missing}: the file cannot be read (ENOENT)`,
    );
    const empty = join(dir, 'empty');
    writeFileSync(empty, ' \n');
    expect(() => createProfileTokenSource({ path: empty, logger })).toThrow('the file is empty');
  });

  it('backs a pipeline with TARGET_AUTH_TOKEN_FILE, exposed for the credentials hold; without a token in the file it does not start', async () => {
    const path = join(dir, 'pipeline');
    writeFileSync(path, `${tokens[0]}\n`);
    const run = await startTestPipeline({ TARGET_AUTH_TOKEN_FILE: path }, ['deliver'], { authToken: tokens[0] });
    try {
      expect(run.pipeline.tokenSource?.current()).toBe(tokens[0]);
      writeFileSync(path, tokens[2]);
      expect(await run.pipeline.tokenSource?.refresh()).toBe(true);
    } finally {
      await run.close();
    }
    const config = loadConfig({
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: uniquePrefix('token-file'),
      TARGET_CLIENT_CODE: 'acme',
      TARGET_AUTH_TOKEN_FILE: join(dir, 'nowhere'),
    });
    const start = startPipeline({
      config,
      mapping: resolveMapping(undefined),
      logger,
      roles: ['deliver'],
      targetBaseUrl: sim.url,
    });
    await expect(start).rejects.toBeInstanceOf(TokenSourceError);
  });

  it('is a config error together with TARGET_AUTH_TOKEN, naming both variables and neither value', () => {
    let problems: string[] = [];
    try {
      loadConfig({ TARGET_AUTH_TOKEN: tokens[0], TARGET_AUTH_TOKEN_FILE: join(dir, 'rotate') });
    } catch (error) {
      if (error instanceof ConfigError) problems = error.problems;
    }
    expect(problems).toEqual([
      'TARGET_AUTH_TOKEN, TARGET_AUTH_TOKEN_FILE: set one of them, not both (one source of the profile token)',
    ]);
  });
});
