/**
 * What a run costs: Redis commands (INFO commandstats), Redis memory (INFO memory), slow
 * commands (SLOWLOG), and per-process memory and CPU from /proc. Linux only, like the bench.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as bullmqScripts from 'bullmq/dist/esm/scripts/index.js';
import type { Redis } from 'ioredis';
import * as storeLua from '../src/coalesce/lua.js';
import { loadLua } from '../src/redis/lua-source.js';

export interface CommandStat {
  calls: number;
  usec: number;
}

/** `cmdstat_<name>:calls=N,usec=N,...` lines of INFO commandstats, by command name. */
export function parseCommandStats(info: string): Map<string, CommandStat> {
  const out = new Map<string, CommandStat>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    out.set(match[1] ?? '?', { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return out;
}

/** A numeric field of an INFO section, e.g. `used_memory`. */
export function infoField(info: string, field: string): number {
  return Number(new RegExp(`^${field}:(\\S+)`, 'm').exec(info)?.[1] ?? NaN);
}

/** Starts a measured interval: command counters and the slow log begin at zero. */
export async function resetRedisStats(redis: Redis): Promise<void> {
  await redis.config('RESETSTAT');
  await redis.slowlog('RESET');
}

export interface RedisCost {
  commands: number;
  /** Redis CPU time spent in commands (commandstats usec), seconds. */
  commandSeconds: number;
  /** Top commands by time: name, calls, share of time. */
  top: Array<{ command: string; calls: number; usec: number }>;
  /** The slowest commands of the interval (SLOWLOG, over 10 ms by default). */
  slow: Array<{ command: string; ms: number }>;
}

/** Command counts and the slow log since {@link resetRedisStats}. */
export async function redisCost(redis: Redis): Promise<RedisCost> {
  const stats = parseCommandStats(await redis.info('commandstats'));
  // The bench's own polling (INFO, SLOWLOG, CONFIG) is not the pipeline's cost.
  for (const own of ['info', 'slowlog', 'config', 'memory', 'flushall']) stats.delete(own);
  let commands = 0;
  let usec = 0;
  for (const s of stats.values()) {
    commands += s.calls;
    usec += s.usec;
  }
  const top = [...stats]
    .map(([command, s]) => ({ command, ...s }))
    .sort((a, b) => b.usec - a.usec)
    .slice(0, 20);
  const entries = (await redis.slowlog('GET', 5)) as unknown[][];
  const slow = entries.map((e) => ({
    command: (e[3] as string[]).slice(0, 2).join(' ').slice(0, 60),
    ms: Number(e[2]) / 1000,
  }));
  return { commands, commandSeconds: usec / 1e6, top, slow };
}

/**
 * Slow-log entries Redis keeps between two reads of {@link ScriptCostLog}: Redis 7 logs the
 * commands inside scripts too, hundreds of thousands a second at peak, so the log is read
 * and emptied every READ_EVERY_MS. Bounded because each entry keeps up to 32 arguments of
 * up to 128 bytes in the measured Redis.
 */
const EVERY_CALL_LOG = 100_000;
const READ_EVERY_MS = 100;

/** Script name by SHA-1: the project's own Lua scripts and BullMQ's. */
function scriptNames(): Map<string, string> {
  const sha = (lua: string) => createHash('sha1').update(lua).digest('hex');
  const names = new Map<string, string>();
  for (const [name, lua] of Object.entries(storeLua)) if (typeof lua === 'string') names.set(sha(lua), name);
  names.set(sha(loadLua(new URL('../src/quota/lua/reserve-budget.lua', import.meta.url))), 'RESERVE_BUDGET');
  for (const script of Object.values(bullmqScripts) as Array<{ name?: string; content?: string }>) {
    if (typeof script.content === 'string') names.set(sha(script.content), `bullmq ${script.name ?? '?'}`);
  }
  return names;
}

export interface ScriptCost {
  script: string;
  calls: number;
  usec: number;
  /** The longest single call: how long it kept every other client of Redis waiting. */
  maxUsec: number;
}

/**
 * Redis time per script over an interval (`--script-costs`): the slow log keeps every
 * command (threshold 0) and is read and emptied every READ_EVERY_MS; each EVALSHA's
 * duration (its inner commands included) is added to its script. Reading the log costs
 * Redis time and memory, so a run measured this way is slower and its memory figures are
 * not comparable; it is for finding where Redis's time goes, not for the ratios.
 */
export class ScriptCostLog {
  private readonly costs = new Map<string, ScriptCost>();
  private readonly names = scriptNames();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private full = false;

  constructor(private readonly redis: Redis) {}

  async start(): Promise<void> {
    await this.redis.config('SET', 'slowlog-max-len', String(EVERY_CALL_LOG));
    await this.redis.config('SET', 'slowlog-log-slower-than', '0');
    await this.redis.slowlog('RESET');
    this.timer = setInterval(() => {
      this.reading = this.reading.then(() => this.read());
    }, READ_EVERY_MS);
  }

  /** Stops logging (Redis's defaults again) and returns the costs, largest first. */
  async stop(): Promise<ScriptCost[]> {
    clearInterval(this.timer);
    await this.reading;
    await this.read();
    await this.redis.config('SET', 'slowlog-log-slower-than', '10000');
    await this.redis.config('SET', 'slowlog-max-len', '128');
    const out = [...this.costs.values()].sort((a, b) => b.usec - a.usec);
    // A full log lost calls between two reads: say so rather than report a part as the whole.
    if (this.full) out.push({ script: '(slow log was full: some calls not counted)', calls: 0, usec: 0, maxUsec: 0 });
    return out;
  }

  private async read(): Promise<void> {
    // Read and empty in one step, so no entry falls between the two.
    const replies = await this.redis.multi().slowlog('GET', '-1').slowlog('RESET').exec();
    const entries = (replies?.[0]?.[1] ?? []) as unknown[][];
    if (entries.length >= EVERY_CALL_LOG) this.full = true;
    for (const entry of entries) {
      const args = entry[3] as string[];
      const command = String(args[0]).toLowerCase();
      if (command !== 'evalsha' && command !== 'eval') continue;
      const sha = String(args[1]);
      const key = command === 'evalsha' ? (this.names.get(sha) ?? sha.slice(0, 8)) : 'EVAL';
      const cost = this.costs.get(key) ?? { script: key, calls: 0, usec: 0, maxUsec: 0 };
      cost.calls += 1;
      cost.usec += Number(entry[2]);
      cost.maxUsec = Math.max(cost.maxUsec, Number(entry[2]));
      this.costs.set(key, cost);
    }
  }
}

export async function usedMemory(redis: Redis): Promise<number> {
  return infoField(await redis.info('memory'), 'used_memory');
}

/** VmRSS and VmHWM (peak) of a process in bytes, or undefined once it is gone. */
export function processMemory(pid: number): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds a process has used (clock ticks of 1/100 s on Linux). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

export interface Sample {
  at: number;
  usedMemory: number;
  outstanding: number;
  rss: Record<string, number>;
  /** CPU seconds each process had used by then. */
  cpu: Record<string, number>;
}

/**
 * RSS growth of one process over the part of the run it worked in (MB): the mean of the
 * last third of that span minus the mean of its middle third; "flat" is near 0. The span
 * runs from the first to the last sample in which the process used at least `busyShare` of
 * a core: a bulk deliver process idles through the coalescing window and works only at the
 * end of a short run, and idle-to-busy is warm-up, not growth. The first third of the span
 * is left out for the same reason. NaN when the span has fewer than 6 samples.
 */
export function rssGrowthMb(samples: readonly Sample[], name: string, busyShare = 0.1): number {
  const busy: number[] = [];
  for (let i = 1; i < samples.length; i += 1) {
    const [a, b] = [samples[i - 1], samples[i]] as [Sample, Sample];
    const cpu = (b.cpu[name] ?? NaN) - (a.cpu[name] ?? NaN);
    if (cpu >= (busyShare * (b.at - a.at)) / 1000) busy.push(i);
  }
  if (busy.length === 0) return NaN;
  const span = samples
    .slice(busy[0], (busy[busy.length - 1] ?? 0) + 1)
    .map((s) => s.rss[name] ?? NaN)
    .filter((x) => !Number.isNaN(x));
  if (span.length < 6) return NaN;
  const third = Math.floor(span.length / 3);
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  return (mean(span.slice(-third)) - mean(span.slice(third, 2 * third))) / 2 ** 20;
}

/**
 * Samples Redis memory, the backlog (accepted, not yet at Target) and each process's RSS
 * every `everyMs` while a run goes on.
 */
export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly redis: Redis,
    private readonly pids: () => Record<string, number>,
    private readonly outstanding: () => number,
    private readonly t0: number,
  ) {}

  start(everyMs = 250): void {
    this.timer = setInterval(() => void this.take(), everyMs);
  }

  async take(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const used = await usedMemory(this.redis);
      const rss: Record<string, number> = {};
      const cpu: Record<string, number> = {};
      for (const [name, pid] of Object.entries(this.pids())) {
        rss[name] = processMemory(pid)?.rss ?? NaN;
        cpu[name] = processCpuSeconds(pid);
      }
      this.samples.push({ at: Date.now() - this.t0, usedMemory: used, outstanding: this.outstanding(), rss, cpu });
    } catch {
      // Redis is going away at the end of a run; a missed sample is fine.
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The sample with the largest backlog. */
  peakBacklog(): Sample | undefined {
    return this.samples.reduce<Sample | undefined>(
      (best, s) => (best === undefined || s.outstanding > best.outstanding ? s : best),
      undefined,
    );
  }

  /** RSS growth of a process over the part of the run it worked in (MB): see {@link rssGrowthMb}. */
  rssGrowthMb(name: string): number {
    return rssGrowthMb(this.samples, name);
  }
}
