import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../harness/pipeline.js';
import { freePort, spawnRedis, type SpawnedRedis } from '../../harness/redis-server.js';
import { runBuilt, type RunningProcess } from '../../harness/spawn-process.js';
import { ADMIN_TOKEN } from './ops-server.js';

// Needs `npm run build`: the processes are the built entry points, so what reaches their
// stdout and stderr is exactly what an operator's log collector would get.
const PASSWORD = 'r3dis-rotated-pa55word-4242';
const NEXT_PASSWORD = 'r3dis-next-pa55word-7777';
const WRONG_PASSWORD = 'r3dis-never-valid-0000';

function env(url: string): Record<string, string> {
  return {
    REDIS_URL: url,
    REDIS_PREFIX: 'pw-test',
    START_LOCAL_REDIS: 'false',
    TARGET_CLIENT_CODE: 'acme',
    TARGET_BASE_URL: 'http://127.0.0.1:9',
    INGEST_API_KEYS: 'pos:pos-key-7d1e9a0c4b2f5e8d',
    ADMIN_TOKEN,
    PORT: '0',
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: '5000',
  };
}

/** The password as it could be printed: as is, percent-encoded, or inside a URL. */
function expectNoPassword(output: string): void {
  expect(output).not.toContain(PASSWORD);
  expect(output).not.toContain(encodeURIComponent(PASSWORD));
}

/** Log lines as objects; a line that is not JSON (a console print) becomes `{ unparsed }`. */
function parsed(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { unparsed: line };
    }
  });
}

describe('a process whose Redis password stops working', () => {
  let redis: SpawnedRedis;
  let admin: Redis;
  let run: RunningProcess | undefined;

  beforeAll(async () => {
    redis = await spawnRedis();
    admin = new Redis(redis.url);
    await admin.config('SET', 'requirepass', PASSWORD);
    await admin.auth(PASSWORD);
  });
  beforeEach(async () => {
    await admin.config('SET', 'requirepass', PASSWORD);
  });
  afterAll(async () => {
    if (run !== undefined && run.child.exitCode === null) {
      run.kill('SIGKILL');
      await run.exited;
    }
    await admin.quit();
    await redis.stop();
  });

  it('logs every connection error of every role as a redacted JSON line, and nothing else', async () => {
    run = runBuilt('workers/all-in-one.js', env(`redis://:${PASSWORD}@127.0.0.1:${redis.port}`));
    await run.waitForLine(/target-ingest running/);
    // The password is rotated and every connection dropped: each one reconnects with the old
    // password and fails AUTH, with the password in the error's command.
    await admin.config('SET', 'requirepass', NEXT_PASSWORD);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal');
    const workerQueues = ['ingest', 'flush', 'deliver-single', 'deliver-bulk', 'bulk-status'];
    const connections = ['pipeline', ...workerQueues.map((q) => `worker:${q}`)];
    const failed = (): string[] =>
      parsed(run?.lines ?? [])
        .filter((l) => String(JSON.stringify(l.err)).includes('WRONGPASS'))
        .map((l) => String(l.connection));
    expect(
      await waitFor(
        () =>
          connections.every((c) => failed().includes(c)) &&
          (run?.lines.some((l) => l.includes('intake lost Redis')) ?? false),
        20_000,
      ),
    ).toBe(true);
    // Let the process back in: every connection reports its return.
    await admin.config('SET', 'requirepass', PASSWORD);
    const back = (): string[] =>
      parsed(run?.lines ?? [])
        .filter((l) => l.msg === 'Redis connection is back')
        .map((l) => String(l.connection));
    expect(await waitFor(() => connections.every((c) => back().includes(c)), 20_000)).toBe(true);
    // A SIGTERM within a few hundred ms of the reconnect can leave BullMQ's worker close
    // hanging until the shutdown deadline (also before these listeners existed): give the
    // workers' blocking connections time to come back first.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    run.kill('SIGTERM');
    expect(await run.exited).toBe(0);

    const output = run.lines.join('\n');
    expectNoPassword(output);
    expect(output).not.toContain(NEXT_PASSWORD);
    // No console print of ioredis or BullMQ: every line came through the logger.
    expect(parsed(run.lines).filter((l) => 'unparsed' in l)).toEqual([]);
    const errors = parsed(run.lines).filter(
      (l) => l.level === 50 && String(JSON.stringify(l.err)).includes('WRONGPASS'),
    );
    expect(errors.length).toBeGreaterThanOrEqual(connections.length);
    for (const line of errors) expect((line.err as { command?: { args?: unknown } }).command?.args).toBe('[redacted]');
    // A reconnect fails every few hundred ms: the same error is logged at error level once.
    const perConnection = new Map<string, number>();
    for (const line of errors)
      perConnection.set(
        `${String(line.connection)} ${String(line.msg)}`,
        (perConnection.get(`${String(line.connection)} ${String(line.msg)}`) ?? 0) + 1,
      );
    for (const [key, n] of perConnection) expect(n, key).toBe(1);
  });

  it('says no Redis answers, without the password, when the password is wrong from the start', async () => {
    for (const url of [
      `redis://:${WRONG_PASSWORD}@127.0.0.1:${redis.port}`,
      `redis://:${PASSWORD}@127.0.0.1:${await freePort()}`,
    ]) {
      const intake = runBuilt('workers/intake.js', env(url));
      expect(await intake.exited).toBe(1);
      const output = intake.lines.join('\n');
      expect(output).toMatch(/no Redis answers at 127\.0\.0\.1:\d+/);
      expectNoPassword(output);
      expect(output).not.toContain(WRONG_PASSWORD);
    }
  });
});
