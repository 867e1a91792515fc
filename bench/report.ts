/**
 * Output of a bench invocation: a Markdown table and the targets on stdout, the full
 * figures in bench/results/latest.json (git-ignored), and the same table with the machine
 * it ran on in README.md between the bench markers of its "Performance" section.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { ROOT } from '../test/harness/spawn-process.js';
import { callsOf, checkTargets, deliveredPerSec, type RunResult, type TargetCheck } from './targets.js';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  redis: string;
  loadAverage: number;
  summary: string;
}

export interface BenchReport {
  startedAt: string;
  quick: boolean;
  seconds?: number;
  machine: Machine;
  settings: { args: string; events: number; latencyMs: number; windowMs: number; naiveEvents: number; noopEvents: number; env: Record<string, string> };
  runs: RunResult[];
  targets?: TargetCheck[];
  /** False while runs are still being added (the file is rewritten after each run). */
  complete?: boolean;
}

/** README blocks: the latest `--quick` run, and the latest run without `--quick` (1,000,000 events). */
export type BlockKind = 'quick' | 'full';
export const MARKERS: Record<BlockKind, { start: string; end: string }> = {
  quick: { start: '<!-- bench:start -->', end: '<!-- bench:end -->' },
  full: { start: '<!-- bench-full:start -->', end: '<!-- bench-full:end -->' },
};

export async function describeMachine(redis: Redis): Promise<Machine> {
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  const server = await redis.info('server');
  const redisVersion = /redis_version:(\S+)/.exec(server)?.[1] ?? '?';
  const m = { cpus: availableParallelism(), cpuModel, memoryGb: totalmem() / 2 ** 30, node: process.version, redis: redisVersion, loadAverage: loadavg()[0] ?? NaN };
  return { ...m, summary: `${m.cpus} × ${cpuModel}, ${m.memoryGb.toFixed(0)} GB, Node ${m.node}, Redis ${m.redis}, load ${m.loadAverage.toFixed(1)} at start` };
}

const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const n2 = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const mb = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x.toFixed(0) : '–');

function correctness(r: RunResult): string {
  if (r.kind === 'noop') return '–';
  const parts = [r.differences.length === 0 ? 'equal' : `${r.differences.length >= 6 ? '5+' : r.differences.length} diffs`];
  // lost: gone from the pipeline's own accounting; undelivered: still held when the bench stopped waiting.
  parts.push(`lost ${r.kind === 'pipeline' ? r.lost : r.outstanding}`);
  if (r.kind === 'pipeline' && r.outstanding > 0) parts.push(`${r.outstanding} undelivered`);
  if (r.overtakes > 0) parts.push(`${r.overtakes} overtakes`);
  if (r.kind === 'pipeline' && r.deadLetters > 0) parts.push(`${r.deadLetters} dead letters`);
  if (r.kind === 'pipeline' && !r.settled) parts.push('not idle at the end');
  return parts.join(', ');
}

/** One Markdown row per run. */
export function table(runs: readonly RunResult[]): string {
  const head = ['run', 'events', 'accepted/s', 'delivered/s', 'calls/event', 'calls/oracle', 'p50 ms', 'p99 ms', 'p99.9 ms', 'Redis cmds/event', 'Redis B/pending event', 'peak RSS MB (workers; bench; redis)', 'final state vs oracle'];
  const rows = runs.map((r) => {
    if (r.kind === 'noop') {
      return [r.label, n0(r.events), n0(r.acceptedPerSec), `${n0(r.jobsPerSec)} jobs/s`, '–', '–', '–', '–', '–', n2(r.redis.commands / r.events, 1), '–', `${mb(r.processes.noop?.peakRssMb)}`, '–'];
    }
    const calls = callsOf(r);
    const workers = r.kind === 'pipeline' ? ['map', 'flusher', 'deliver'].map((n) => mb(r.processes[n]?.peakRssMb)).join('/') : mb(r.processes.naive?.peakRssMb);
    return [
      r.label, n0(r.accepted), n0(r.acceptedPerSec), r.complete ? n0(deliveredPerSec(r)) : 'stalled', n2(calls / r.accepted, 4),
      r.kind === 'pipeline' ? n2(calls / r.visitorWindows, 3) : n2(calls / r.accepted, 3),
      n0(r.latency.p50), n0(r.latency.p99), n0(r.latency.p999), n2(r.redis.commands / r.accepted, 1),
      r.kind === 'pipeline' ? n0(r.redis.bytesPerPendingEvent) : '–',
      `${workers}; ${mb(r.processes.bench?.peakRssMb)}; ${mb(r.processes.redis?.peakRssMb)}`, correctness(r),
    ];
  });
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function targetLines(checks: readonly TargetCheck[]): string {
  return checks.map((c) => `- **${c.pass === true ? 'PASS' : c.pass === false ? 'MISS' : 'N/A'}** ${c.target}: ${c.measured}`).join('\n');
}

/** The README block of one run: what ran, where, the table and the targets. */
export function readmeBlock(report: BenchReport, checks: readonly TargetCheck[]): string {
  const s = report.settings;
  const { start, end } = MARKERS[report.quick ? 'quick' : 'full'];
  const command = `npm run bench${s.args === '' ? '' : ` -- ${s.args}`}`;
  return [
    start,
    `Latest ${report.quick ? 'quick' : 'full-size'} run: ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC, \`${command}\` (${n0(s.events)} events per workload; naive on ${n0(s.naiveEvents)}, no-op on ${n0(s.noopEvents)}), ${n0(report.seconds ?? NaN)} s.`,
    `Machine: ${report.machine.summary}. Target latency ${s.latencyMs} ms (simulator), COALESCE_WINDOW_MS ${s.windowMs}.`,
    '',
    table(report.runs),
    '',
    targetLines(checks),
    end,
  ].join('\n');
}

const SECTION_INTRO = `## Performance

\`npm run bench\` measures the pipeline against the usual way of doing this job, in one run on
one machine, so the ratios hold when the machine is noisy. It starts its own \`redis-server\` (no
persistence) and the Target simulator (20 ms per call), runs map, flusher and deliver as separate
processes fed by the producer SDK, and compares with (a) naive: one BullMQ job and one Single
Profile Update call per event, worker concurrency 50, and (b) BullMQ's ceiling: \`addBulk\` plus a
no-op worker. \`npm run bench -- --quick\` (under two minutes): 100,000 events per workload, W1 in
both delivery modes, W2–W4 in \`auto\`; without it: 1,000,000 events, every workload in both modes.

- W1: Zipf 1.0 over 100,000 visitors; W2: uniform; W3: one visitor gets 10 % of the events; W4:
  Zipf in bursts at 10x a steady 10 % of W1's rate; "@50%": W1 steady at half of W1's rate.
- delivered/s: events ÷ (time until Target holds them all − the coalescing window, a deliberate
  wait); "stalled": the bench stopped waiting while events were still missing at Target.
- calls/oracle: calls ÷ the visitor-windows a perfect coalescer would need; latency: from the
  producer's acceptance to the simulator write that carries the event (or a newer one).
- Redis commands include those run inside Lua scripts; bytes per pending event: \`used_memory\`
  growth at the largest backlog ÷ that backlog. Every figure: \`bench/results/latest.json\`.
`;

/**
 * Replaces this kind's block between its markers; a missing block goes after the other
 * kind's block, or (no section yet) into a new "Performance" section at the end.
 */
export function updateReadme(readme: string, block: string, kind: BlockKind): string {
  const own = MARKERS[kind];
  const start = readme.indexOf(own.start);
  const end = readme.indexOf(own.end);
  if (start !== -1 && end > start) return readme.slice(0, start) + block + readme.slice(end + own.end.length);
  const other = MARKERS[kind === 'quick' ? 'full' : 'quick'];
  const otherEnd = readme.indexOf(other.end);
  if (otherEnd !== -1) {
    const at = otherEnd + other.end.length;
    return `${readme.slice(0, at)}\n\n${block}${readme.slice(at)}`;
  }
  return `${readme.trimEnd()}\n\n${SECTION_INTRO}\n${block}\n`;
}

/** Writes bench/results/latest.json; called after every run too, so an interrupted bench keeps what it measured. */
export function writeJson(report: BenchReport): string {
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'latest.json');
  writeFileSync(file, `${JSON.stringify(report, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`);
  return file;
}

export function writeReport(report: BenchReport, options: { readme: boolean; log: (line: string) => void }): void {
  const checks = checkTargets(report.runs);
  report.targets = checks;
  report.complete = true;
  options.log(`\n${table(report.runs)}\n\nTargets\n${targetLines(checks)}\n`);
  options.log(`figures: ${writeJson(report)}`);
  if (!options.readme) return;
  const readmePath = join(ROOT, 'README.md');
  if (!existsSync(readmePath)) return;
  writeFileSync(readmePath, updateReadme(readFileSync(readmePath, 'utf8'), readmeBlock(report, checks), report.quick ? 'quick' : 'full'));
  options.log('README.md: Performance section updated');
}
