/**
 * HTTP intake throughput: `npm run bench:http [-- --events 200000 --clients 4 --batch 500 --max-seconds 120]`.
 *
 * Starts its own redis-server (loopback, no persistence) and one intake process
 * (`node dist/workers/intake.js`, NODE_ENV=production, one API key), then a few concurrent
 * undici clients POST batches of valid events (made before timing starts) until the event
 * count or the time is spent.
 * No map worker runs: the numbers are intake's own (authenticate, parse, validate, dedupe,
 * store the job). Prints accepted events/s, request latency percentiles and the CPU time
 * the intake process and redis-server spent per accepted event (from /proc, over the time
 * the clients were sending), and stops everything it started. Run `npm run build` first.
 * `--profile <dir>` writes a V8 CPU profile of the intake process there (`node --cpu-prof`).
 * The intake process runs with the node flags of `npm run start:intake` (package.json), as a
 * user runs it; `--node-flags "<flags>"` replaces them (to compare settings).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { spawnRedis } from '../test/harness/redis-server.js';
import { ROOT, runBuilt } from '../test/harness/spawn-process.js';
import { Redis } from 'ioredis';
import { processCpuSeconds, processMemory, redisCost, resetRedisStats } from './measure.js';
import { installInterruptHandlers, onInterrupt, stopChild, type Child } from './processes.js';

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    clients: { type: 'string', default: '4' },
    batch: { type: 'string', default: '500' },
    'max-seconds': { type: 'string', default: '120' },
    profile: { type: 'string' },
    'node-flags': { type: 'string' },
  },
});

function wholeFlag(name: string, text: string | undefined, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`--${name}: expected a whole number from 1 to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

const EVENTS = wholeFlag('events', flags.events, 10_000_000);
const CLIENTS = wholeFlag('clients', flags.clients, 64);
const BATCH = wholeFlag('batch', flags.batch, 10_000);
const MAX_SECONDS = wholeFlag('max-seconds', flags['max-seconds'], 3_600);
const VISITORS = 100_000;
const SOURCE_KEY = randomBytes(16).toString('hex');

/** The node flags a script of package.json passes before its entry point (`node --x=1 dist/...`). */
function nodeFlagsOf(script: string): string[] {
  const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: Record<string, string> };
  const words = (pkg.scripts[script] ?? '').split(/\s+/);
  return words
    .slice(1)
    .filter((word, i, all) => word.startsWith('--') && all.slice(0, i).every((w) => w.startsWith('--')));
}
const NODE_FLAGS =
  flags['node-flags'] === undefined ? nodeFlagsOf('start:intake') : flags['node-flags'].split(/\s+/).filter(Boolean);

/** One request body: up to `BATCH` valid loyalty events, ids unique across the run (`EVENTS` in all). */
function batchBody(batchIndex: number): string {
  const events = [];
  for (let i = 0; i < Math.min(BATCH, EVENTS - batchIndex * BATCH); i++) {
    const n = batchIndex * BATCH + i;
    events.push({
      id: `bench-${n}`,
      type: 'loyalty_card_used',
      occurredAt: new Date(Date.UTC(2026, 10, 21, 10) + n).toISOString(),
      visitor: { mbox3rdPartyId: `CRM-${n % VISITORS}` },
      data: { storeId: `S${n % 50}`, points: n % 500, tier: 'gold' },
    });
  }
  return JSON.stringify(events);
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function main(): Promise<void> {
  installInterruptHandlers();
  const redis = await spawnRedis({ appendOnly: false });
  const forgetRedis = onInterrupt(() => redis.stop());
  let intake: Child | undefined;
  let pool: Pool | undefined;
  try {
    const proc = runBuilt(
      'workers/intake.js',
      {
        NODE_ENV: 'production',
        REDIS_URL: redis.url,
        REDIS_PREFIX: 'bench-http',
        // Intake never calls Target; production only insists that a client code is set.
        TARGET_CLIENT_CODE: 'bench',
        TARGET_BASE_URL: 'http://127.0.0.1:9',
        INGEST_API_KEYS: `bench:${SOURCE_KEY}`,
        START_LOCAL_REDIS: 'false',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'info',
        // Nothing drains the queue here; the backlog limit must not end the run early.
        INTAKE_MAX_QUEUED_BATCHES: String(Math.ceil(EVENTS / Math.min(BATCH, 1000)) + 10),
      },
      [],
      [...NODE_FLAGS, ...(flags.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${flags.profile}`])],
    );
    intake = { name: 'intake', proc, pid: proc.child.pid ?? NaN };
    const running = intake;
    onInterrupt(() => stopChild(running));
    const line = await proc.waitForLine(/HTTP listening/, 30_000);
    const address = (JSON.parse(line) as { address?: string }).address;
    if (address === undefined || !address.startsWith('http://127.0.0.1:'))
      throw new Error(`intake listens at an unexpected address: ${line}`);

    pool = new Pool(address, { connections: CLIENTS, pipelining: 1 });
    const batches = Math.ceil(EVENTS / BATCH);
    // Made before the clock starts: on a 2-core machine, building bodies while sending them
    // took CPU from the intake process being measured.
    const bodies = Array.from({ length: batches }, (_, k) => batchBody(k));
    const deadline = Date.now() + MAX_SECONDS * 1000;
    const latenciesMs: number[] = [];
    const statuses = new Map<number, number>();
    let accepted = 0;
    let next = 0;
    const client = async (http: Pool): Promise<void> => {
      while (next < batches && Date.now() < deadline) {
        const body = bodies[next++] ?? '';
        const started = performance.now();
        const res = await http.request({
          path: '/v1/events',
          method: 'POST',
          headers: { authorization: `Bearer ${SOURCE_KEY}`, 'content-type': 'application/json' },
          body,
        });
        const answer = (await res.body.json()) as { accepted?: number };
        latenciesMs.push(performance.now() - started);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode === 202) accepted += answer.accepted ?? 0;
      }
    };
    const redisPid = redis.process.pid ?? NaN;
    const stats = new Redis(redis.url, { lazyConnect: true });
    await stats.connect();
    await resetRedisStats(stats);
    const cpuAtStart = { intake: processCpuSeconds(intake.pid), redis: processCpuSeconds(redisPid) };
    const benchCpuAtStart = process.cpuUsage();
    const startedAt = performance.now();
    const http = pool;
    await Promise.all(Array.from({ length: CLIENTS }, () => client(http)));
    const seconds = (performance.now() - startedAt) / 1000;
    const microsPerEvent = (pid: number, before: number): string =>
      (((processCpuSeconds(pid) - before) * 1e6) / accepted).toFixed(1);
    const benchCpu = process.cpuUsage(benchCpuAtStart);
    const benchMicros = ((benchCpu.user + benchCpu.system) / accepted).toFixed(1);
    const peakRssMb = ((processMemory(intake.pid)?.peak ?? NaN) / 1048576).toFixed(0);
    const cpu = {
      intake: microsPerEvent(intake.pid, cpuAtStart.intake),
      redis: microsPerEvent(redisPid, cpuAtStart.redis),
    };

    const cost = await redisCost(stats);
    stats.disconnect();
    const commandTime = cost.top
      .slice(0, 4)
      .map((c) => `${c.command} ${(c.usec / accepted).toFixed(2)} µs (${(c.calls / accepted).toFixed(3)} calls)`)
      .join(', ');

    latenciesMs.sort((a, b) => a - b);
    const answers = [...statuses].map(([status, n]) => `${status}×${n}`).join(', ');
    process.stdout.write(
      [
        `HTTP intake (node ${NODE_FLAGS.join(' ') || 'with no flags'}): ${accepted.toLocaleString('en-US')} events accepted in ${seconds.toFixed(1)} s, ${latenciesMs.length} requests of ${BATCH} events from ${CLIENTS} clients (answers: ${answers})`,
        `  accepted events/s  ${Math.round(accepted / seconds).toLocaleString('en-US')}`,
        `  request latency    p50 ${percentile(latenciesMs, 50).toFixed(1)} ms, p99 ${percentile(latenciesMs, 99).toFixed(1)} ms, max ${(latenciesMs.at(-1) ?? NaN).toFixed(1)} ms`,
        `  CPU per event      intake process ${cpu.intake} µs, redis-server ${cpu.redis} µs, bench clients ${benchMicros} µs; intake peak RSS ${peakRssMb} MB`,
        `  Redis per event    ${(cost.commands / accepted).toFixed(2)} commands, ${((cost.commandSeconds * 1e6) / accepted).toFixed(2)} µs in commands: ${commandTime}`,
        '',
      ].join('\n'),
    );
    if ([...statuses.keys()].some((status) => status !== 202)) process.exitCode = 1;
  } finally {
    await pool?.close();
    if (intake !== undefined) await stopChild(intake);
    await redis.stop();
    forgetRedis();
  }
}

await main();
