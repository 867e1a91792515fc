import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '../../src/intake/producer.js';
import { deletePrefix, newRedis, redisUrl, uniquePrefix } from '../harness/context.js';
import { waitFor } from '../harness/pipeline.js';
import { freePort, spawnRedis } from '../harness/redis-server.js';
import { startSimulator } from '../../src/simulator/server.js';
import { runBuilt, type RunningProcess } from '../harness/spawn-process.js';
import { NO_ROW_LOSS } from '../harness/no-row-loss.js';

async function fetchProfile(
  port: number,
  thirdPartyId: string,
): Promise<Record<string, { value: string }> | undefined> {
  const res = await request(
    `http://127.0.0.1:${port}/rest/v1/profiles/thirdPartyId/${encodeURIComponent(thirdPartyId)}?client=simulator`,
  );
  if (res.statusCode !== 200) {
    await res.body.dump();
    return undefined;
  }
  const body = (await res.body.json()) as { profileAttributes?: Record<string, { value: string }> };
  return body.profileAttributes;
}

/** An IPv4 address of this machine other than loopback, if it has one. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
}

/** Whether `GET /healthz` answers on `host`:`port`. */
async function answers(host: string, port: number): Promise<boolean> {
  try {
    const res = await request(`http://${host}:${port}/healthz`, { headersTimeout: 2000, bodyTimeout: 2000 });
    await res.body.dump();
    return true;
  } catch {
    return false;
  }
}

/** The `HTTP listening` line's bound host and port. */
function listeningOn(line: string): { host?: string; port: number } {
  const entry = JSON.parse(line) as { address?: string; host?: string };
  return { host: entry.host, port: Number(new URL(entry.address ?? 'http://x:0').port) };
}

describe('npm start (dist/workers/all-in-one.js)', () => {
  let redis: Redis;
  const prefix = uniquePrefix('start');
  let dataDir: string;

  beforeAll(() => {
    redis = newRedis();
    dataDir = mkdtempSync(join(tmpdir(), 'ti-start-'));
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('comes up on the simulator, delivers an SDK event, and stops cleanly on SIGTERM', async () => {
    const simulatorPort = await freePort();
    const proc: RunningProcess = runBuilt('workers/all-in-one.js', {
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: prefix,
      SIMULATOR_PORT: String(simulatorPort),
      COALESCE_WINDOW_MS: '200',
      FLUSH_INTERVAL_MS: '50',
      BULK_STATUS_POLL_MS: '100',
      // The demo keeps a bulk batch incomplete for 30 s; this test checks start-up and
      // delivery, not Target's pace, so its batches take 1 s (still not at once).
      SIMULATOR_BATCH_PROCESSING_MS: '1000',
      // The demo loses 0.1% of bulk rows, as Target may; this test's one row must land.
      SIMULATOR_BULK_ROW_LOSS: '0',
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
    });
    try {
      await proc.waitForLine(/target-ingest running/);
      expect(proc.lines[0]).toMatch(/TARGET_CLIENT_CODE is not set: delivering to the built-in Target simulator/);

      const producer = createProducer({ connection: redis, prefix, source: 'kiosk' });
      const result = await producer.send({
        id: 'k-1',
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T08:30:00Z',
        visitor: { mbox3rdPartyId: 'CRM-START' },
        data: { kioskId: 'K1' },
      });
      await producer.close();
      expect(result.status).toBe('accepted');

      expect(
        await waitFor(async () => (await fetchProfile(simulatorPort, 'CRM-START'))?.kioskLastId?.value === 'K1'),
      ).toBe(true);
      const profile = await fetchProfile(simulatorPort, 'CRM-START');
      expect(profile?.kioskLastVisitAt?.value).toBe('2026-11-21T08:30:00.000Z');
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await proc.exited, proc.lines.join('\n')).toBe(0);
    expect(proc.lines.some((l) => /"msg":"stopped"/.test(l))).toBe(true);
  });

  it('starts a private redis-server when none answers at REDIS_URL', async () => {
    const port = await freePort();
    const proc = runBuilt('workers/all-in-one.js', {
      REDIS_URL: `redis://127.0.0.1:${port}`,
      SIMULATOR_PORT: String(await freePort()),
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
    });
    try {
      await proc.waitForLine(/started a private redis-server/);
      await proc.waitForLine(/target-ingest running/);
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await proc.exited, proc.lines.join('\n')).toBe(0);
  });

  it('without INGEST_API_KEYS or HOST, listens on 127.0.0.1 only and says so first', async () => {
    const localPrefix = uniquePrefix('local');
    const proc = runBuilt('workers/all-in-one.js', {
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: localPrefix,
      SIMULATOR_PORT: String(await freePort()),
      PORT: '0',
      DATA_DIR: dataDir,
    });
    try {
      const listening = await proc.waitForLine(/HTTP listening/);
      expect((JSON.parse(listening) as { address?: string }).address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const { host, port } = listeningOn(listening);
      expect(host).toBe('127.0.0.1');
      await proc.waitForLine(/target-ingest running/);
      expect(await answers('127.0.0.1', port)).toBe(true);
      // Not reachable from another machine: this one's own outside address gets no answer.
      const outside = externalAddress();
      if (outside !== undefined) expect(await answers(outside, port)).toBe(false);
      const warning = JSON.parse(proc.lines[0] ?? '{}') as { level?: number; msg?: string; host?: string };
      expect(warning.msg).toBe(
        'no INGEST_API_KEYS: intake accepts every request as source dev, listening on 127.0.0.1 only; set HOST=0.0.0.0 to listen on every interface',
      );
      expect(warning.level).toBe(40);
      expect(warning.host).toBe('127.0.0.1');
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await proc.exited, proc.lines.join('\n')).toBe(0);
    await deletePrefix(redis, localPrefix);
  });

  it('with INGEST_API_KEYS and no HOST, listens on every interface without that warning', async () => {
    const keyedPrefix = uniquePrefix('keyed');
    const proc = runBuilt('workers/all-in-one.js', {
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: keyedPrefix,
      SIMULATOR_PORT: String(await freePort()),
      INGEST_API_KEYS: 'pos:pos-secret-key-0123456789',
      PORT: '0',
      DATA_DIR: dataDir,
    });
    try {
      const { host, port } = listeningOn(await proc.waitForLine(/HTTP listening/));
      expect(host).toBe('0.0.0.0');
      await proc.waitForLine(/target-ingest running/);
      const outside = externalAddress();
      if (outside !== undefined) expect(await answers(outside, port)).toBe(true);
      expect(proc.lines.join('\n')).not.toMatch(/no INGEST_API_KEYS/);
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await proc.exited, proc.lines.join('\n')).toBe(0);
    await deletePrefix(redis, keyedPrefix);
  });

  it('says loudly when Redis may evict data', async () => {
    const evicting = await spawnRedis({ extraArgs: ['--maxmemory-policy', 'allkeys-lru'] });
    const proc = runBuilt('workers/all-in-one.js', {
      REDIS_URL: evicting.url,
      SIMULATOR_PORT: String(await freePort()),
      PORT: '0',
      HOST: '127.0.0.1',
    });
    try {
      await proc.waitForLine(/target-ingest running/);
      expect(proc.lines.join('\n')).toMatch(/REDIS MISCONFIGURED: maxmemory-policy is allkeys-lru/);
    } finally {
      proc.kill('SIGTERM');
      await proc.exited;
      await evicting.stop();
    }
  });

  it('waits for an active delivery on SIGTERM, and a second signal exits at once', async () => {
    // Target answers after 30 s, so a delivery is still under way when the signal comes.
    const slow = await startSimulator({ ...NO_ROW_LOSS, clientCode: 'acme', latencyMs: 30_000 });
    const slowPrefix = uniquePrefix('slow');
    const proc = runBuilt('workers/all-in-one.js', {
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: slowPrefix,
      TARGET_CLIENT_CODE: 'acme',
      TARGET_BASE_URL: slow.url,
      DELIVERY_MODE: 'single',
      TARGET_TIMEOUT_MS: '40000',
      CLAIM_LEASE_MS: '90000',
      SHUTDOWN_TIMEOUT_MS: '60000',
      COALESCE_WINDOW_MS: '100',
      FLUSH_INTERVAL_MS: '50',
      PORT: '0',
      HOST: '127.0.0.1',
    });
    try {
      await proc.waitForLine(/target-ingest running/);
      const producer = createProducer({ connection: redis, prefix: slowPrefix, source: 'kiosk' });
      await producer.send({
        id: 'slow-1',
        type: 'kiosk_visit',
        occurredAt: '2026-11-21T08:30:00Z',
        visitor: { mboxPC: '1-1.01_00' },
        data: { kioskId: 'K1' },
      });
      await producer.close();
      expect(await waitFor(async () => (await redis.zcard(`{${slowPrefix}}:leases`)) === 1, 10_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      proc.kill('SIGTERM');
      await proc.waitForLine(/shutting down/);
      const secondAt = Date.now();
      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(1);
      expect(Date.now() - secondAt).toBeLessThan(5000);
      expect(proc.lines.join('\n')).toMatch(/second signal: exiting at once/);
    } finally {
      proc.kill('SIGKILL');
      await slow.close();
      await deletePrefix(redis, slowPrefix);
    }
  });

  it('refuses to run in production without TARGET_CLIENT_CODE, naming the variable', async () => {
    const proc = runBuilt('workers/all-in-one.js', {
      NODE_ENV: 'production',
      INGEST_API_KEYS: 'pos:0123456789abcdef',
      REDIS_URL: redisUrl(),
    });
    expect(await proc.exited).toBe(1);
    expect(proc.lines.join('\n')).toMatch(/TARGET_CLIENT_CODE: required when NODE_ENV=production/);
  });

  it('lists every bad variable and stops', async () => {
    const proc = runBuilt('workers/all-in-one.js', {
      PORT: 'x',
      DELIVERY_MODE: 'fast',
      TARGET_AUTH_TOKEN: '',
      ADMIN_TOKEN: 'sekret',
    });
    expect(await proc.exited).toBe(1);
    const out = proc.lines.join('\n');
    expect(out).toMatch(/PORT:/);
    expect(out).toMatch(/DELIVERY_MODE:/);
    expect(out).toMatch(/ADMIN_TOKEN: must be at least 16 characters/);
    expect(out).not.toContain('sekret');
  });
});
