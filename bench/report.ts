/**
 * Output of a bench invocation: a Markdown table and the targets on stdout, the full
 * figures in bench/results/latest.json (git-ignored), and the same table with the machine
 * it ran on in docs/performance.md between its bench markers.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { ROOT } from '../test/harness/spawn-process.js';
import { FLUSH_FLOOR_MS, formatProcessing, type ProcessingResult } from './processing-time.js';
import type { DeliveredBytes } from './store-bytes.js';
import type { NpmStartResult } from './npm-start-run.js';
import {
  callsOf,
  checkTargets,
  cpuPerEvent,
  deliveredPerSec,
  nodeProcessesOf,
  type RunResult,
  type TargetCheck,
} from './targets.js';

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
  settings: {
    args: string;
    events: number;
    latencyMs: number;
    windowMs: number;
    naiveEvents: number;
    noopEvents: number;
    env: Record<string, string>;
    /** How long the simulator keeps a bulk batch `incomplete` in the standard runs (its library default). */
    batchProcessingMs?: number;
  };
  runs: RunResult[];
  /** The bulk processing-time runs, converted back to real time (bench/processing-time.ts). */
  processing?: ProcessingResult[];
  /** Bytes per delivered visitor of the `vd` hashes, with and without the kept values. */
  storeBytes?: DeliveredBytes & { run: string };
  targets?: TargetCheck[];
  /** False while runs are still being added (the file is rewritten after each run). */
  complete?: boolean;
}

/** Blocks of docs/performance.md: the latest `--quick` run, and the latest run without `--quick` (1,000,000 events). */
export type BlockKind = 'quick' | 'full';
/** The page the bench writes its blocks into, relative to the repository root. */
export const PERFORMANCE_DOC = 'docs/performance.md';
export const MARKERS: Record<BlockKind, { start: string; end: string }> = {
  quick: { start: '<!-- bench:start -->', end: '<!-- bench:end -->' },
  full: { start: '<!-- bench-full:start -->', end: '<!-- bench-full:end -->' },
};

export async function describeMachine(redis: Redis): Promise<Machine> {
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  const server = await redis.info('server');
  const redisVersion = /redis_version:(\S+)/.exec(server)?.[1] ?? '?';
  const m = {
    cpus: availableParallelism(),
    cpuModel,
    memoryGb: totalmem() / 2 ** 30,
    node: process.version,
    redis: redisVersion,
    loadAverage: loadavg()[0] ?? NaN,
  };
  return {
    ...m,
    summary: `${m.cpus} × ${cpuModel}, ${m.memoryGb.toFixed(0)} GB, Node ${m.node}, Redis ${m.redis}, load ${m.loadAverage.toFixed(1)} at start`,
  };
}

const n0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const n2 = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const mb = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x.toFixed(0) : '–');

function correctness(r: RunResult): string {
  if (r.kind === 'noop') return '–';
  const parts = [
    r.differences.length === 0 ? 'equal' : `${r.differences.length >= 6 ? '5+' : r.differences.length} diffs`,
  ];
  // lost: gone from the pipeline's own accounting; undelivered: still held when the bench stopped waiting.
  if (r.kind === 'naive') parts.push(`lost ${r.outstanding}`);
  else parts.push(`lost ${r.lost}`);
  if (r.kind !== 'naive' && r.outstanding > 0) parts.push(`${r.outstanding} undelivered`);
  if (r.overtakes > 0) parts.push(`${r.overtakes} overtakes`);
  if (r.kind !== 'naive' && r.deadLetters > 0) parts.push(`${r.deadLetters} dead letters`);
  if (r.kind !== 'naive' && !r.settled) parts.push('not idle at the end');
  return parts.join(', ');
}

/** µs of CPU per event of the run's Node processes and of Redis (targets.ts cpuPerEvent). */
function cpuCell(r: RunResult): string {
  const cpu = cpuPerEvent(r);
  return `${n2(cpu.node, 1)}; ${n2(cpu.redis, 1)}`;
}

function npmStartRuns(runs: readonly RunResult[]): NpmStartResult[] {
  return runs.filter((r): r is NpmStartResult => r.kind === 'npm-start');
}

/** How the `npm start` run ran, one sentence for the block (its settings differ from the other runs'). */
export function npmStartNote(r: NpmStartResult): string {
  const s = r.setup;
  return (
    `${r.label}: \`node dist/workers/all-in-one.js\` (intake and every role in one process, DELIVERY_MODE ${r.mode}) on the bench's Redis with append-only on (appendfsync ${s.appendfsync}), ` +
    `${n0(r.events)} events Zipf over ${n0(r.workload.visitors)} visitors POSTed by ${s.clients} clients in batches of ${s.batch}, COALESCE_WINDOW_MS ${r.windowMs}, ` +
    `bulk batches complete at once (simulator batchProcessingMs ${s.batchProcessingMs}); its delivered/s counts the window (first POST to the last write at Target); ` +
    'CPU: that process, where the other rows count map, flusher and deliver (their intake is the SDK inside the bench).'
  );
}

/** One Markdown row per run. */
export function table(runs: readonly RunResult[]): string {
  const head = [
    'run',
    'events',
    'accepted/s',
    'delivered/s',
    'calls/event',
    'calls/oracle',
    'p50 ms',
    'p99 ms',
    'p99.9 ms',
    'Redis cmds/event',
    'CPU µs/event (Node; Redis)',
    'Redis B/pending event',
    'peak RSS MB (workers; bench; redis)',
    'final state vs oracle',
  ];
  const rows = runs.map((r) => {
    if (r.kind === 'noop') {
      return [
        r.label,
        n0(r.events),
        n0(r.acceptedPerSec),
        `${n0(r.jobsPerSec)} jobs/s`,
        '–',
        '–',
        '–',
        '–',
        '–',
        n2(r.redis.commands / r.events, 1),
        cpuCell(r),
        '–',
        `${mb(r.processes.noop?.peakRssMb)}`,
        '–',
      ];
    }
    const calls = callsOf(r);
    const workers = nodeProcessesOf(r)
      .map((n) => mb(r.processes[n]?.peakRssMb))
      .join('/');
    return [
      r.label,
      n0(r.accepted),
      n0(r.acceptedPerSec),
      r.complete ? n0(deliveredPerSec(r)) : 'stalled',
      n2(calls / r.accepted, 4),
      r.kind === 'naive' ? n2(calls / r.accepted, 3) : n2(calls / r.visitorWindows, 3),
      n0(r.latency.p50),
      n0(r.latency.p99),
      n0(r.latency.p999),
      n2(r.redis.commands / r.accepted, 1),
      cpuCell(r),
      r.kind === 'naive' ? '–' : n0(r.redis.bytesPerPendingEvent),
      `${workers}; ${mb(r.processes.bench?.peakRssMb)}; ${mb(r.processes.redis?.peakRssMb)}`,
      correctness(r),
    ];
  });
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function targetLines(checks: readonly TargetCheck[]): string {
  return checks
    .map((c) => `- **${c.pass === true ? 'PASS' : c.pass === false ? 'MISS' : 'N/A'}** ${c.target}: ${c.measured}`)
    .join('\n');
}

/** A real duration in ms, in the unit that reads best. */
function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms >= 120_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function processingCorrectness(r: ProcessingResult): string {
  const parts = [
    r.differences === 0 ? 'equal' : `${r.differences >= 6 ? '5+' : r.differences} diffs`,
    `lost ${r.lost}`,
  ];
  if (r.outstanding > 0) parts.push(`${r.outstanding} undelivered`);
  if (r.deadLetters > 0) parts.push(`${r.deadLetters} dead letters`);
  if (!r.settled) parts.push('not idle at the end');
  return parts.join(', ');
}

/** One Markdown row per processing time, in real time. */
export function processingTable(rows: readonly ProcessingResult[]): string {
  const head = [
    'batches take (real)',
    'scale s: batches / send / window',
    'bulk pacer (real; unscaled 4.8 s)',
    'events (offered/s)',
    'delivered/s',
    'p50',
    'p99',
    'all at Target after',
    'bulk + status calls',
    'final state vs oracle',
  ];
  const body = rows.map((r) => [
    formatProcessing(r.processingMs),
    `${r.scale}: ${n0(r.scaled.simulator.batchProcessingMs ?? NaN)} ms / ${n2(r.scaled.sendSeconds, 1)} s / ${n0(r.scaled.windowMs)} ms`,
    duration(r.scaled.realPacerMs),
    `${n0(r.accepted)} (${n0(r.inputPerSec)}/s)`,
    r.complete ? n2(r.deliveredPerSec, 1) : 'stalled',
    duration(r.latency.p50),
    duration(r.latency.p99),
    duration(r.doneSeconds * 1000),
    `${r.calls.bulk} + ${r.calls.status}`,
    processingCorrectness(r),
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)].join('\n');
}

/** The "bulk processing time" section: what ran, how it was scaled, what scaling misses, the table. */
export function processingSection(rows: readonly ProcessingResult[]): string {
  if (rows.length === 0) return '';
  const r0 = rows[0];
  const events = r0 === undefined ? NaN : r0.events;
  const sendSeconds = r0 === undefined ? NaN : r0.scaled.sendSeconds * r0.scale;
  return [
    '**Bulk processing time.** Target keeps a bulk batch `incomplete` for "generally under one hour … as long as 24 hours". ' +
      `W1 (Zipf) with DELIVERY_MODE=bulk, ${n0(events)} events arriving steadily over ${n0(sendSeconds)} real seconds, batches taking 0 s, 30 s and 10 min. ` +
      "Each run is time-scaled by s: batch processing, BULK_STATUS_POLL_MS (and the bounds of the first poll it learns), BULK_STATUS_MAX_POLL_MS, BULK_CALLS_WINDOW_MS and the simulator's rate-limit window (50 bulk calls per 60/s s), " +
      "COALESCE_WINDOW_MS, COALESCE_MAX_WAIT_MS, RETRY_BASE_MS, RETRY_MAX_MS, BULK_STATUS_GIVE_UP_MS, the simulator's 20 ms per call and the send duration are divided by s " +
      `(FLUSH_INTERVAL_MS too, but not below ${FLUSH_FLOOR_MS} ms); every figure below is converted back to real time (durations × s, rates ÷ s). ` +
      'delivered/s: events ÷ (time until Target held them all − the window); latency: acceptance → the value at Target (the batch landed).',
    '',
    processingTable(rows),
    '',
    'Not captured by scaling: CPU and Redis work per event are not scaled, so a run asks s times the real event rate of the machine (kept far below what W1 sustains); ' +
      "the flusher's bulk pacer never waits less than 1 s (bulkRetryMs in src/flush/role.ts), so at s > 4.8 bulk files that are not full start less often than in real time " +
      '(the pacer column: its interval in real time; one pass closes the gate for ¼ of it up to 4 times it, by the budget left; so rows with s > 4.8 overstate latency: see the check in bench/processing-time.ts); the flush-interval floor and millisecond overheads (HTTP, BullMQ, Redis) count s times; ' +
      "CLAIM_LEASE_MS, WORKER_LOCK_MS and TARGET_TIMEOUT_MS are not scaled (a healthy run never reaches them); Target's own variance (batches of one run taking different times, throttling in business hours) is not simulated.",
  ].join('\n');
}

/** The delivered values' cost in the store, one paragraph. */
export function storeBytesLine(b: DeliveredBytes & { run: string }): string {
  return (
    `**Delivered values in Redis.** Each delivered visitor keeps a hash \`<root>:vd:<vk>\` (DELIVERED_RETENTION_MS) with the stamp of each delivered attribute and, since every bulk row carries all delivered values (v2 override), the value too. ` +
    `After ${b.run}: ${n0(b.visitors)} such hashes; MEMORY USAGE of ${n0(b.sampled)} of them: **${n0(b.withValues)} B per delivered visitor with values** ` +
    `(${n2(b.stampFields, 1)} stamps + ${n2(b.valueFields, 1)} values of ${n2(b.valueChars, 1)} B on average), **${n0(b.withoutValues)} B without** (the same hashes rewritten with their stamps only), ` +
    `**+${n0(b.valueCost)} B for the values** (both rewritten alike: ${n0(b.withValuesCopy)} − ${n0(b.withoutValues)}), i.e. ${n2((b.valueCost * 1e6) / 2 ** 20, 0)} MB per million delivered visitors. ` +
    `**Delivery log** (\`<root>:dl:<vk>\`, DELIVERY_LOG_ENTRIES / DELIVERY_LOG_RETENTION_MS, for "where is my event?"): ${n0(b.logVisitors)} logs, ${n2(b.logEntries, 1)} entries each on average, **${n0(b.logBytes)} B per delivered visitor**.`
  );
}

/** What the standard runs' simulator does with bulk batches. */
export function processingNote(batchProcessingMs: number | undefined): string {
  if (batchProcessingMs === undefined) return '';
  return `Bulk batches stay incomplete ${n2(batchProcessingMs / 1000, 0)} s, as the simulator's default; real Target takes minutes to hours, see the processing-time table.`;
}

/** The docs/performance.md block of one run: what ran, where, the table and the targets. */
export function performanceBlock(report: BenchReport, checks: readonly TargetCheck[]): string {
  const s = report.settings;
  const { start, end } = MARKERS[report.quick ? 'quick' : 'full'];
  const command = `npm run bench${s.args === '' ? '' : ` -- ${s.args}`}`;
  return [
    start,
    `Latest ${report.quick ? 'quick' : 'full-size'} run: ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC, \`${command}\` (${n0(s.events)} events per workload; naive on ${n0(s.naiveEvents)}, no-op on ${n0(s.noopEvents)}), ${n0(report.seconds ?? NaN)} s.`,
    `Machine: ${report.machine.summary}. Target latency ${s.latencyMs} ms (simulator), COALESCE_WINDOW_MS ${s.windowMs}. ${processingNote(s.batchProcessingMs)}`,
    ...npmStartRuns(report.runs).map(npmStartNote),
    '',
    table(report.runs),
    '',
    targetLines(checks),
    ...(report.processing !== undefined && report.processing.length > 0
      ? ['', processingSection(report.processing)]
      : []),
    ...(report.storeBytes !== undefined ? ['', storeBytesLine(report.storeBytes)] : []),
    end,
  ].join('\n');
}

const SECTION_INTRO = `## Performance

\`npm run bench\` measures the pipeline against the usual way of doing this job, in one run on
one machine, so the ratios hold when the machine is noisy. It starts its own \`redis-server\` (no
persistence) and the Target simulator (20 ms per call, with its realistic defaults: bulk batches
stay \`incomplete\` 2 s, status links on the edge host), runs map, flusher and deliver as separate
processes fed by the producer SDK, and compares with (a) naive: one BullMQ job and one Single
Profile Update call per event, worker concurrency 50, and (b) BullMQ's ceiling: \`addBulk\` plus a
no-op worker. \`npm run bench -- --quick\` (about four minutes): 100,000 events per workload, W1 in
both delivery modes, W2–W4 in \`auto\`, the bulk processing-time runs time-scaled; without it:
1,000,000 events, every workload in both modes.

- W1: Zipf 1.0 over 100,000 visitors; W2: uniform; W3: one visitor gets 10 % of the events; W4:
  Zipf in bursts at 10x a steady 10 % of W1's rate; "@50%": W1 steady at half of W1's rate.
- delivered/s: events ÷ (time until Target holds them all − the coalescing window, a deliberate
  wait); "stalled": the bench stopped waiting while events were still missing at Target.
- calls/oracle: calls ÷ the visitor-windows a perfect coalescer would need; latency: from the
  producer's acceptance to the simulator write that carries the event (or a newer one).
- Redis commands include those run inside Lua scripts; bytes per pending event: \`used_memory\`
  growth at the largest backlog ÷ that backlog. Peak RSS: each process's high-water mark
  (\`VmHWM\`); "flat": RSS in the last third of the span a role worked in (used ≥ 10 % of a
  core) minus the middle third, at most 10 % of its peak. Every figure:
  \`bench/results/latest.json\`.
- Bulk processing time: the same pipeline with batches taking 0 s, 30 s and 10 minutes, run
  time-scaled and converted back to real time (bench/processing-time.ts says how and what
  scaling misses); delivered values: Redis bytes per delivered visitor of the kept values.
- npm start (HTTP): what \`npm start\` runs, over HTTP, on append-only Redis, bulk batches
  completing at once (bench/npm-start-run.ts); CPU µs/event: the run's Node processes; Redis.
`;

/**
 * Replaces this kind's block between its markers; a missing block goes after the other
 * kind's block, or (no section yet) into a new "Performance" section at the end.
 */
export function updatePerformanceDoc(doc: string, block: string, kind: BlockKind): string {
  const own = MARKERS[kind];
  const start = doc.indexOf(own.start);
  const end = doc.indexOf(own.end);
  if (start !== -1 && end > start) return doc.slice(0, start) + block + doc.slice(end + own.end.length);
  const other = MARKERS[kind === 'quick' ? 'full' : 'quick'];
  const otherEnd = doc.indexOf(other.end);
  if (otherEnd !== -1) {
    const at = otherEnd + other.end.length;
    return `${doc.slice(0, at)}\n\n${block}${doc.slice(at)}`;
  }
  return `${doc.trimEnd()}\n\n${SECTION_INTRO}\n${block}\n`;
}

/** Writes bench/results/latest.json; called after every run too, so an interrupted bench keeps what it measured. */
export function writeJson(report: BenchReport): string {
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'latest.json');
  writeFileSync(
    file,
    `${JSON.stringify(report, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`,
  );
  return file;
}

export function writeReport(report: BenchReport, options: { docs: boolean; log: (line: string) => void }): void {
  const checks = checkTargets(report.runs);
  report.targets = checks;
  report.complete = true;
  const notes = npmStartRuns(report.runs).map((r) => `${npmStartNote(r)}\n`);
  options.log(`\n${table(report.runs)}\n\n${notes.join('')}\nTargets\n${targetLines(checks)}\n`);
  if (report.processing !== undefined && report.processing.length > 0)
    options.log(`${processingSection(report.processing)}\n`);
  if (report.storeBytes !== undefined) options.log(`${storeBytesLine(report.storeBytes)}\n`);
  options.log(`figures: ${writeJson(report)}`);
  if (!options.docs) return;
  const docPath = join(ROOT, PERFORMANCE_DOC);
  if (!existsSync(docPath)) return;
  writeFileSync(
    docPath,
    updatePerformanceDoc(
      readFileSync(docPath, 'utf8'),
      performanceBlock(report, checks),
      report.quick ? 'quick' : 'full',
    ),
  );
  options.log(`${PERFORMANCE_DOC}: results updated`);
}
