import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPS_ROUTES } from '../../../src/ops/routes.js';
import { waitFor } from '../../harness/pipeline.js';
import { spawnRedis, type SpawnedRedis } from '../../harness/redis-server.js';
import { startOpsServer, type OpsServer } from './ops-server.js';

interface ReadyBody {
  status: string;
  checks: { redis: string; workers: string; shutdown: string };
}

async function probe(ops: OpsServer, path: string): Promise<{ status: number; body: ReadyBody }> {
  // No credentials on purpose: probes must work without them.
  const response = await fetch(`${ops.url}${path}`);
  return { status: response.status, body: (await response.json()) as ReadyBody };
}

describe('health probes', () => {
  let ops: OpsServer;

  beforeAll(async () => {
    ops = await startOpsServer();
  });
  afterAll(async () => {
    await ops.close();
  });

  it('/healthz answers 200 while the process lives, also while stopping', async () => {
    expect(await probe(ops, OPS_ROUTES.healthz)).toEqual({ status: 200, body: { status: 'ok' } });
    ops.setStopping(true);
    try {
      expect((await probe(ops, OPS_ROUTES.healthz)).status).toBe(200);
    } finally {
      ops.setStopping(false);
    }
  });

  it('/readyz is 200 with every check ok when Redis answers and the workers run', async () => {
    expect(await probe(ops, OPS_ROUTES.readyz)).toEqual({
      status: 200,
      body: { status: 'ready', checks: { redis: 'ok', workers: 'ok', shutdown: 'ok' } },
    });
  });

  it('/readyz turns 503 once a shutdown begins, naming the check', async () => {
    ops.setStopping(true);
    try {
      expect(await probe(ops, OPS_ROUTES.readyz)).toEqual({
        status: 503,
        body: { status: 'not ready', checks: { redis: 'ok', workers: 'ok', shutdown: 'stopping' } },
      });
    } finally {
      ops.setStopping(false);
    }
    expect((await probe(ops, OPS_ROUTES.readyz)).status).toBe(200);
  });
});

describe('readiness when a worker stops', () => {
  let ops: OpsServer;

  beforeAll(async () => {
    ops = await startOpsServer();
  });
  afterAll(async () => {
    await ops.close();
  });

  it('names the worker that is not running', async () => {
    const flush = ops.pipeline.workers.get('flush');
    expect(flush).toBeDefined();
    await flush?.close();
    const { status, body } = await probe(ops, OPS_ROUTES.readyz);
    expect(status).toBe(503);
    expect(body.checks).toEqual({ redis: 'ok', workers: 'not running: flush', shutdown: 'ok' });
  });
});

describe('readiness when Redis goes away', () => {
  let redis: SpawnedRedis;
  let ops: OpsServer;

  const dir = mkdtempSync(join(tmpdir(), 'ti-ready-'));

  beforeAll(async () => {
    // A private redis-server, so stopping it leaves the shared one alone; append-only, as in
    // production, so the restart below brings the queues back as they were.
    redis = await spawnRedis({ dir, appendOnly: true });
    // No worker roles (like an intake-only process): BullMQ's Worker.close() can hang when it
    // runs while a blocking connection is still reconnecting (taskforcesh/bullmq#4656), which
    // would make this test about BullMQ's shutdown rather than about readiness.
    ops = await startOpsServer({ env: { REDIS_URL: redis.url }, logLevel: 'silent', roles: [] });
  });
  afterAll(async () => {
    await ops.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('turns 503 while Redis is unreachable and 200 again once it is back', async () => {
    // Nothing has used the connection yet; readiness waits for it like a load balancer would.
    expect(await waitFor(async () => (await probe(ops, OPS_ROUTES.readyz)).status === 200)).toBe(true);
    const { port } = redis;
    await redis.stop();
    expect(await waitFor(async () => (await probe(ops, OPS_ROUTES.readyz)).status === 503)).toBe(true);
    const down = await probe(ops, OPS_ROUTES.readyz);
    expect(down.body.status).toBe('not ready');
    expect(down.body.checks.redis).not.toBe('ok');
    expect(down.body.checks.shutdown).toBe('ok');
    // /healthz stays 200: the process lives, restarting it would not bring Redis back.
    expect((await probe(ops, OPS_ROUTES.healthz)).status).toBe(200);

    // Same port, so the pipeline's clients reconnect and close cleanly afterwards.
    redis = await spawnRedis({ port, dir, appendOnly: true });
    expect(await waitFor(async () => (await probe(ops, OPS_ROUTES.readyz)).status === 200)).toBe(true);
  });
});
