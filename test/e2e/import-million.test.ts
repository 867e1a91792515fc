import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRedis, uniquePrefix } from '../harness/context.js';
import { spawnRedis, type SpawnedRedis } from '../harness/redis-server.js';
import { runBuilt, type RunningProcess } from '../harness/spawn-process.js';
import { ingestEvents } from '../../src/jobs/ingest-rows.js';
import type { IngestJob } from '../../src/jobs/catalog.js';

const LINES = 1_000_000;
const RSS_LIMIT = 300 * 1024 * 1024;

interface CliSummary {
  status: string;
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  resumedAfterLine?: number;
  linesThisRun: number;
  linesPerSecond: number;
  peakRssBytes: number;
}

async function writeFile(file: string): Promise<void> {
  const out = createWriteStream(file);
  const base = Date.UTC(2026, 9, 1);
  for (let start = 0; start < LINES; start += 10_000) {
    let chunk = '';
    for (let i = start; i < start + 10_000; i++) {
      chunk += `{"id":"pos-${i}","type":"loyalty_card_used","occurredAt":"${new Date(base + i * 1000).toISOString()}","visitor":{"mbox3rdPartyId":"CRM-${i % 10_000}"},"data":{"storeId":"S${i % 50}","points":${i % 500},"cardId":"6011000990139424"}}\n`;
    }
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Peak RSS of a child as the kernel records it (VmHWM), polled until it exits; 0 where /proc is missing. */
function watchPeakRss(proc: RunningProcess): () => number {
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'));
      if (match !== null) peak = Math.max(peak, Number(match[1]) * 1024);
    } catch {
      // Gone, or no /proc: the CLI's own figure still counts.
    }
  }, 200);
  void proc.exited.then(() => clearInterval(timer));
  return () => peak;
}

function summaryOf(proc: RunningProcess): CliSummary {
  const line = proc.lines.find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`no JSON summary in the output:\n${proc.lines.join('\n')}`);
  return JSON.parse(line) as CliSummary;
}

describe(`target-ingest import of ${LINES.toLocaleString('en-US')} lines (built CLI, own Redis)`, () => {
  let redisServer: SpawnedRedis;
  let redis: Redis;
  let dir: string;
  const prefix = uniquePrefix('million');

  beforeAll(async () => {
    // Its own Redis: the ~400 MB this leaves in Redis go away with the server.
    redisServer = await spawnRedis();
    redis = newRedis(redisServer.url);
    dir = mkdtempSync(join(tmpdir(), 'ti-million-'));
  });
  afterAll(async () => {
    await redis.quit();
    await redisServer.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'stays under 300 MB RSS, and interrupted half way then run again stores each event once',
    { timeout: 150_000 },
    async () => {
      const file = join(dir, 'pos-eod.ndjson');
      await writeFile(file);
      const env = { REDIS_URL: redisServer.url, REDIS_PREFIX: prefix, LOG_LEVEL: 'silent' };
      const args = ['import', file, '--source', 'pos', '--json'];

      const first = runBuilt('src/cli.js', env, args);
      const firstPeak = watchPeakRss(first);
      await first.waitForLine(/^progress (4[5-9]|[5-9]\d)\.\d%/, 120_000);
      first.kill('SIGINT');
      expect(await first.exited, first.lines.join('\n')).toBe(130);
      const interrupted = summaryOf(first);
      expect(interrupted).toMatchObject({ status: 'interrupted', duplicates: 0, rejected: 0 });
      expect(interrupted.lines).toBeGreaterThan(LINES * 0.4);
      expect(interrupted.lines).toBeLessThan(LINES);
      expect(interrupted.accepted).toBe(interrupted.lines);

      const second = runBuilt('src/cli.js', env, args);
      const secondPeak = watchPeakRss(second);
      expect(await second.exited, second.lines.join('\n')).toBe(0);
      const completed = summaryOf(second);
      expect(completed).toMatchObject({
        status: 'completed',
        lines: LINES,
        resumedAfterLine: interrupted.lines,
        linesThisRun: LINES - interrupted.lines,
        accepted: LINES,
        duplicates: 0,
        rejected: 0,
      });

      for (const peak of [interrupted.peakRssBytes, completed.peakRssBytes, firstPeak(), secondPeak()])
        expect(peak).toBeLessThan(RSS_LIMIT);
      console.info(
        `1M import: peak RSS ${Math.round(Math.max(interrupted.peakRssBytes, completed.peakRssBytes) / 1048576)} MB, ${completed.linesPerSecond} lines/s in the resumed run`,
      );

      // What Redis holds: every event of the file exactly once, across both runs' jobs.
      const jobIds = await redis.lrange(`{${prefix}}:ingest:wait`, 0, -1);
      const seen = new Uint8Array(LINES);
      let stored = 0;
      for (let i = 0; i < jobIds.length; i += 50) {
        const pipeline = redis.pipeline();
        for (const id of jobIds.slice(i, i + 50)) pipeline.hget(`{${prefix}}:ingest:${id}`, 'data');
        for (const [error, data] of (await pipeline.exec()) ?? []) {
          if (error !== null) throw error;
          for (const event of ingestEvents(JSON.parse(String(data)) as IngestJob) as Array<{ id: string }>) {
            stored += 1;
            const index = Number(event.id.slice(4));
            seen[index] = (seen[index] ?? 0) + 1;
          }
        }
      }
      expect(stored).toBe(LINES);
      expect(seen.every((n) => n === 1)).toBe(true);
    },
  );
});
