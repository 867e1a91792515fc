import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveMapping, validateEvent } from '../../src/events/index.js';
import type { ProfileWrite } from '../../src/simulator/store.js';
import { countVisitorWindows, StreamingOracle, workloadOracle } from '../../bench/oracle.js';
import type { NaiveResult, NoopResult } from '../../bench/baselines.js';
import { acceptedFromAnswer } from '../../bench/http-sender.js';
import { rssGrowthMb, type Sample } from '../../bench/measure.js';
import type { Measured } from '../../bench/measure-run.js';
import type { NpmStartResult } from '../../bench/npm-start-run.js';
import type { PipelineResult } from '../../bench/pipeline-run.js';
import { benchPlan, pacedEvents } from '../../bench/plan.js';
import { parseProcessingRows, PROCESSING_SCENARIOS, scaledSettings } from '../../bench/processing-time.js';
import {
  MARKERS,
  npmStartNote,
  PERFORMANCE_DOC,
  processingNote,
  performanceBlock,
  storeBytesLine,
  table,
  updatePerformanceDoc,
  type BenchReport,
} from '../../bench/report.js';
import { checkTargets, cpuPerEvent, deliveredPerSec, npmStartChecks } from '../../bench/targets.js';
import { DeliveryTracker } from '../../bench/tracker.js';
import {
  generateBatches,
  Random,
  releaseAtSeconds,
  sampleCdf,
  visitorIdentity,
  visitorIndexOf,
  zipfCdf,
  type WorkloadSpec,
} from '../../bench/workloads.js';
import { oracleProfiles } from '../harness/oracle.js';

const BASE = Date.parse('2026-11-20T00:00:00.000Z');
const spec = (pick: WorkloadSpec['pick'], events: number): WorkloadSpec => ({
  name: 'W1',
  title: '',
  events,
  visitors: 100_000,
  seed: 7,
  pick,
  pace: { kind: 'max' },
});

describe('bench workloads', () => {
  it('draws Zipf(1.0) ranks with the expected head and tail', () => {
    const cdf = zipfCdf(100_000, 1.0);
    const r = new Random(42);
    const counts = new Map<number, number>();
    const draws = 100_000;
    let top10pc = 0;
    for (let i = 0; i < draws; i += 1) {
      const rank = sampleCdf(cdf, r.next());
      counts.set(rank, (counts.get(rank) ?? 0) + 1);
      if (rank < 10_000) top10pc += 1;
    }
    // P(rank 1) = 1 / H(100000) ≈ 0.0827; rank 1 is drawn twice as often as rank 2.
    expect((counts.get(0) ?? 0) / draws).toBeCloseTo(0.0827, 2);
    expect((counts.get(0) ?? 0) / (counts.get(1) ?? 1)).toBeGreaterThan(1.8);
    expect((counts.get(0) ?? 0) / (counts.get(1) ?? 1)).toBeLessThan(2.2);
    // The top 10 % of visitors get H(10000) / H(100000) ≈ 81 % of the events.
    expect(top10pc / draws).toBeCloseTo(0.81, 1);
  });

  it('is deterministic for a seed, valid, and gives the hot visitor 10 %', () => {
    const first = [...generateBatches(spec('hot', 5000), BASE, 1000)];
    const again = [...generateBatches(spec('hot', 5000), BASE, 1000)];
    expect(JSON.stringify(again)).toBe(JSON.stringify(first));
    const mapping = resolveMapping();
    const events = first.flatMap((b) => b.events);
    for (const e of events) expect(validateEvent(e, mapping, { now: BASE }).ok).toBe(true);
    const hot = first.reduce((n, b) => n + b.visitors.filter((v) => v === 0).length, 0);
    expect(hot / 5000).toBeGreaterThan(0.08);
    expect(hot / 5000).toBeLessThan(0.12);
  });

  it('maps visitor identities back to their index', () => {
    for (const i of [0, 9, 12_345, 99_999]) {
      const id = visitorIdentity(i);
      expect(visitorIndexOf('mboxPC' in id ? id.mboxPC : id.mbox3rdPartyId)).toBe(i);
    }
  });

  it('paces steady and bursty releases', () => {
    expect(releaseAtSeconds({ kind: 'max' }, 5000)).toBe(0);
    expect(releaseAtSeconds({ kind: 'steady', eventsPerSecond: 1000 }, 5000)).toBe(5);
    const bursts = { kind: 'bursts', eventsPerSecond: 100 } as const;
    expect(releaseAtSeconds(bursts, 500)).toBeCloseTo(0.5); // inside the 1 s burst at 1000/s
    expect(releaseAtSeconds(bursts, 1000)).toBeCloseTo(1); // burst over
    expect(releaseAtSeconds(bursts, 1200)).toBeCloseTo(3); // 2 s into the 100/s stretch
    expect(releaseAtSeconds(bursts, 1400)).toBeCloseTo(5); // the next period starts
  });
});

describe('bench oracle', () => {
  it('agrees with the test oracle on a workload', () => {
    const events = [...generateBatches(spec('zipf', 3000), BASE, 500)].flatMap((b) => b.events);
    const streaming = new StreamingOracle(BASE);
    for (const e of [...events].reverse()) streaming.addRaw(e);
    expect(streaming.profiles()).toEqual(oracleProfiles(events, { now: BASE }));
    // The shortcut of generated workloads (newest event per visitor and type) agrees too.
    expect(workloadOracle(spec('zipf', 3000), BASE, 500, BASE).profiles()).toEqual(streaming.profiles());
  });

  it('counts the visitor-windows of a perfect coalescer', () => {
    const visitors = Int32Array.from([1, 1, 1, 1, 2, 2, 3]);
    const accepted = Float64Array.from([0, 4999, 5000, 12_000, 100, 100, NaN]);
    // Visitor 1: [0, 5000) holds two arrivals, 5000 opens a second window, 12000 a third.
    // Visitor 2: one window. Visitor 3 was never accepted.
    expect(countVisitorWindows(visitors, accepted, 5000)).toBe(4);
    expect(countVisitorWindows(visitors, accepted, 0)).toBe(6);
  });
});

describe('bench tracker', () => {
  const write = (attributes: Record<string, string>): ProfileWrite => ({
    kind: 'thirdPartyId',
    id: 'CRM-5',
    attributes,
    via: 'single',
    outcome: 'updated',
    at: new Date(),
  });
  const at = (seq: number) => new Date(BASE + seq).toISOString();

  it('takes a write of seq m as delivering every pending event of that visitor and type up to m', () => {
    const tracker = new DeliveryTracker(3, 10, BASE, 0);
    // seq 0 and 1: loyalty (type 0); seq 2: kiosk (type 1); all for visitor 5, accepted at 100 ms.
    tracker.noteAccepted(
      { first: 0, events: [{}, {}, {}], visitors: Int32Array.from([5, 5, 5]), types: Uint8Array.from([0, 0, 1]) },
      100,
    );
    tracker.onWrite(write({ loyaltyLastUsedAt: at(1), loyaltyTier: 'gold' }), 350);
    expect(tracker.delivered).toBe(2);
    expect(tracker.outstanding).toBe(1);
    tracker.onWrite(write({ kioskLastVisitAt: at(2) }), 1100);
    expect(tracker.outstanding).toBe(0);
    expect(tracker.percentiles().p50).toBe(250);
    expect(tracker.percentiles().max).toBe(1000);
    expect(tracker.lastDelivery()).toBe(1100);
    // An older value after a newer one is an overtake (P4), and delivers nothing.
    tracker.onWrite(write({ loyaltyLastUsedAt: at(0) }), 1200);
    expect(tracker.overtakes).toBe(1);
  });

  it('counts an event accepted after Target already holds something newer as delivered at once', () => {
    const tracker = new DeliveryTracker(2, 10, BASE, 0);
    tracker.noteAccepted({ first: 1, events: [{}], visitors: Int32Array.from([5]), types: Uint8Array.from([0]) }, 10);
    tracker.onWrite(write({ loyaltyLastUsedAt: at(1) }), 20);
    tracker.noteAccepted({ first: 0, events: [{}], visitors: Int32Array.from([5]), types: Uint8Array.from([0]) }, 30);
    expect(tracker.outstanding).toBe(0);
  });

  it('gives the steady-state percentiles from the events accepted at or after a time only', () => {
    const tracker = new DeliveryTracker(3, 10, BASE, 0);
    // seq 0 (visitor 1) accepted at 0 and delivered 900 ms later; seq 1 and 2 (visitors 2, 3) at 500.
    tracker.noteAccepted({ first: 0, events: [{}], visitors: Int32Array.from([1]), types: Uint8Array.from([0]) }, 0);
    tracker.noteAccepted(
      { first: 1, events: [{}, {}], visitors: Int32Array.from([2, 3]), types: Uint8Array.from([0, 0]) },
      500,
    );
    tracker.onWrite({ ...write({ loyaltyLastUsedAt: at(0) }), id: 'CRM-1' }, 900);
    tracker.onWrite({ ...write({ loyaltyLastUsedAt: at(1) }), id: 'CRM-2' }, 600);
    expect(tracker.percentiles().max).toBe(900);
    const steady = tracker.percentilesFrom(500);
    // seq 2 is not delivered yet: it counts in neither.
    expect(steady.events).toBe(1);
    expect(steady.max).toBe(100);
    expect(tracker.percentilesFrom(0).events).toBe(2);
  });
});

describe('bench RSS growth', () => {
  const MB = 2 ** 20;
  // One sample every 250 ms: RSS in MB and whether the process worked since the last one.
  const series = (points: Array<[number, boolean]>): Sample[] => {
    let cpu = 0;
    return points.map(([rss, busy], i) => {
      if (busy) cpu += 0.2;
      return { at: i * 250, usedMemory: 0, outstanding: 0, rss: { deliver: rss * MB }, cpu: { deliver: cpu } };
    });
  };

  it('measures over the span the process worked in, so idling through the window and working at the end is not growth', () => {
    const idleThenBusy = series([
      ...Array.from({ length: 12 }, (): [number, boolean] => [120, false]),
      ...Array.from({ length: 9 }, (): [number, boolean] => [160, true]),
    ]);
    expect(rssGrowthMb(idleThenBusy, 'deliver')).toBe(0);
  });

  it('sees growth while the process works', () => {
    const growing = series(Array.from({ length: 12 }, (_, i): [number, boolean] => [100 + 10 * i, true]));
    // The first sample has no CPU delta: the span is samples 1–11 (110–210 MB); thirds of 3:
    // middle 140–160 (mean 150), last 190–210 (mean 200).
    expect(rssGrowthMb(growing, 'deliver')).toBeCloseTo(50, 5);
  });

  it('has no figure for a process that never worked for 6 samples', () => {
    expect(
      rssGrowthMb(
        series([
          [100, false],
          [100, true],
          [110, true],
          [100, false],
        ]),
        'deliver',
      ),
    ).toBeNaN();
    expect(rssGrowthMb(series(Array.from({ length: 10 }, (): [number, boolean] => [100, false])), 'deliver')).toBeNaN();
  });
});

describe('bench plan and report', () => {
  const options = {
    events: 100_000,
    naiveEvents: 3000,
    noopEvents: 20_000,
    modes: ['single', 'auto'] as const,
    workloads: new Set(['W1', 'W2', 'W3', 'W4'] as const),
    baselines: true,
    paced: true,
    npmStartEvents: 100_000,
  };

  it('keeps the quick plan to W1 in both modes, one latency run and W2–W4 in auto', () => {
    const labels = benchPlan({ ...options, quick: true }).map((s) => s.label);
    expect(labels).toEqual([
      'BullMQ no-op',
      'naive W1',
      'npm start (HTTP)',
      'W1 single',
      'W1 auto',
      'W1 single @50%',
      'W2 auto',
      'W3 auto',
      'W4 auto',
    ]);
    expect(benchPlan({ ...options, quick: false })).toHaveLength(13);
  });

  it('runs npm start right after the baselines in quick and full plans, unless it has no events', () => {
    for (const quick of [true, false]) {
      const steps = benchPlan({ ...options, quick });
      expect(steps[2]).toMatchObject({ kind: 'npm-start', events: 100_000, label: 'npm start (HTTP)' });
      expect(benchPlan({ ...options, quick, npmStartEvents: 0 }).some((s) => s.kind === 'npm-start')).toBe(false);
    }
  });

  it('sizes time-boxed paced runs from their rate', () => {
    const [step] = benchPlan({ ...options, quick: true }).filter((s) => s.label === 'W4 auto');
    if (step === undefined) throw new Error('no W4 step');
    expect(pacedEvents(step, 1000)).toBe(14_000); // one 5-s period: 14 rate-seconds
  });

  it('writes its blocks into docs/performance.md, which holds both markers once, in order', () => {
    expect(PERFORMANCE_DOC).toBe('docs/performance.md');
    const doc = readFileSync(resolve(import.meta.dirname, '../..', PERFORMANCE_DOC), 'utf8');
    const at = [MARKERS.quick.start, MARKERS.quick.end, MARKERS.full.start, MARKERS.full.end].map((m) => {
      expect(doc.split(m)).toHaveLength(2);
      return doc.indexOf(m);
    });
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    const readme = readFileSync(resolve(import.meta.dirname, '../..', 'README.md'), 'utf8');
    expect(readme).not.toContain(MARKERS.quick.start);
  });

  it('appends the Performance section once, then replaces only between the markers', () => {
    const { quick, full } = MARKERS;
    const once = updatePerformanceDoc('# x\n\ntext\n', `${quick.start}\nA\n${quick.end}`, 'quick');
    expect(once.match(/## Performance/g)).toHaveLength(1);
    const twice = updatePerformanceDoc(once, `${quick.start}\nB\n${quick.end}`, 'quick');
    expect(twice).toBe(once.replace('\nA\n', '\nB\n'));
    const both = updatePerformanceDoc(twice, `${full.start}\nF\n${full.end}`, 'full');
    expect(both).toBe(`${twice.trimEnd()}\n\n${full.start}\nF\n${full.end}\n`);
    expect(updatePerformanceDoc(both, `${quick.start}\nC\n${quick.end}`, 'quick')).toContain(
      `C\n${quick.end}\n\n${full.start}\nF`,
    );
  });
});

describe('bench processing-time scaling', () => {
  const scenario = { events: 6000, sendSeconds: 60 };

  it('divides every time constant by the scale and keeps the 50-call budget per scaled window', () => {
    const s = scaledSettings({ processingMs: 600_000, scale: 60 }, scenario, 20);
    expect(s.simulator).toEqual({ batchProcessingMs: 10_000, bulkRateWindowMs: 1000, latencyMs: 0 });
    expect(s.env).toMatchObject({
      DELIVERY_MODE: 'bulk',
      COALESCE_WINDOW_MS: '83',
      COALESCE_MAX_WAIT_MS: '1000',
      BULK_STATUS_POLL_MS: '17',
      BULK_STATUS_MIN_POLL_MS: '4',
      BULK_STATUS_FIRST_POLL_MAX_MS: '10000',
      BULK_STATUS_MAX_POLL_MS: '1000',
      BULK_CALLS_WINDOW_MS: '1000',
      BULK_CALLS_PER_MINUTE: '50',
      RETRY_BASE_MS: '17',
      RETRY_MAX_MS: '5000',
      FLUSH_INTERVAL_MS: '25',
    });
    expect(s.windowMs).toBe(83);
    expect(s.sendSeconds).toBe(1);
    expect(s.eventsPerSecond).toBe(6000);
    // The pacer's 1-s floor: 60 real seconds instead of 4.8.
    expect(s.realPacerMs).toBe(60_000);
  });

  it('leaves an unscaled run at the pipeline defaults, pacer included', () => {
    const s = scaledSettings({ processingMs: 0, scale: 1 }, scenario, 20);
    expect(s.env).toMatchObject({
      COALESCE_WINDOW_MS: '5000',
      BULK_STATUS_POLL_MS: '1000',
      BULK_CALLS_WINDOW_MS: '60000',
      FLUSH_INTERVAL_MS: '200',
    });
    expect(s.simulator).toEqual({ batchProcessingMs: 0, bulkRateWindowMs: 60_000, latencyMs: 20 });
    expect(s.realPacerMs).toBe(4800);
    expect(() => scaledSettings({ processingMs: 0, scale: 0.5 }, scenario, 20)).toThrow(RangeError);
  });

  it('runs 0 s, 30 s and 10 min in quick and full, and parses --processing-rows', () => {
    for (const sc of Object.values(PROCESSING_SCENARIOS))
      expect(sc.rows.map((r) => r.processingMs)).toEqual([0, 30_000, 600_000]);
    expect(parseProcessingRows('30000:4,600000:60')).toEqual([
      { processingMs: 30_000, scale: 4 },
      { processingMs: 600_000, scale: 60 },
    ]);
    expect(() => parseProcessingRows('30000')).toThrow(RangeError);
  });

  it('puts the processing time of the standard runs and the store bytes into the docs/performance.md block', () => {
    const report: BenchReport = {
      startedAt: '2026-12-07T02:00:00.000Z',
      quick: true,
      runs: [],
      machine: { cpus: 2, cpuModel: 'x', memoryGb: 24, node: 'v20', redis: '7', loadAverage: 1, summary: 'm' },
      settings: {
        args: '--quick',
        events: 1,
        latencyMs: 20,
        windowMs: 5000,
        naiveEvents: 1,
        noopEvents: 1,
        env: {},
        batchProcessingMs: 2000,
      },
      storeBytes: {
        run: 'W1 auto',
        visitors: 1000,
        sampled: 400,
        stampFields: 4,
        valueFields: 4,
        valueChars: 11,
        withValues: 450,
        withValuesCopy: 448,
        withoutValues: 290,
        valueCost: 158,
        logVisitors: 900,
        logEntries: 1.5,
        logBytes: 260,
      },
    };
    const block = performanceBlock(report, []);
    expect(processingNote(2000)).toBe(
      "Bulk batches stay incomplete 2 s, as the simulator's default; real Target takes minutes to hours, see the processing-time table.",
    );
    expect(block).toContain(processingNote(2000));
    expect(block).toContain(storeBytesLine(report.storeBytes ?? (undefined as never)));
    expect(block).toContain('**450 B per delivered visitor with values**');
    expect(block).toContain('**290 B without**');
    expect(block).toContain('**+158 B for the values**');
  });
});

describe('bench npm start run', () => {
  const measured = (over: Partial<Measured> = {}): Measured => ({
    events: 100_000,
    accepted: 100_000,
    acceptedPerSec: 12_000,
    doneSeconds: 10,
    complete: true,
    settled: true,
    outstanding: 0,
    latency: { p50: 3000, p99: 6000, p999: 6500, max: 7000 },
    latencyAfterFirstWindow: { p50: 3000, p99: 6000, p999: 6500, max: 7000, events: 90_000 },
    visitorWindows: 20_000,
    calls: { single: 100, bulk: 10, status: 20, failed: 0, byStatus: { 200: 130 } },
    redis: {
      commands: 2_200_000,
      commandSeconds: 1,
      top: [],
      slow: [],
      usedMemoryPeak: 1,
      bytesPerPendingEvent: 230,
      peakBacklog: 50_000,
      retainedBytesPerEvent: 10,
    },
    processes: {},
    differences: [],
    profiles: 20_000,
    overtakes: 0,
    benchLoopDelayMs: { p99: 1, max: 2 },
    ...over,
  });
  const W1: WorkloadSpec = { ...spec('zipf', 100_000), visitors: 20_000 };
  const npmStart = (over: Partial<NpmStartResult> = {}): NpmStartResult => ({
    ...measured({
      processes: {
        'all-in-one': { peakRssMb: 200, cpuSeconds: 8, rssGrowthMb: 1 },
        redis: { peakRssMb: 60, cpuSeconds: 1.5, rssGrowthMb: 0 },
      },
    }),
    kind: 'npm-start',
    label: 'npm start (HTTP)',
    workload: W1,
    mode: 'auto',
    windowMs: 1000,
    setup: { clients: 4, batch: 500, appendfsync: 'everysec', batchProcessingMs: 0 },
    deadLetters: 0,
    storeStats: {},
    lost: 0,
    logs: {},
    ...over,
  });
  const naive: NaiveResult = {
    ...measured({
      events: 3000,
      accepted: 3000,
      doneSeconds: 4,
      processes: {
        naive: { peakRssMb: 150, cpuSeconds: 1.2, rssGrowthMb: 0 },
        redis: { peakRssMb: 30, cpuSeconds: 0.3, rssGrowthMb: 0 },
      },
    }),
    kind: 'naive',
    label: 'naive W1',
    workload: spec('zipf', 3000),
  };
  const noop: NoopResult = {
    kind: 'noop',
    label: 'BullMQ no-op',
    events: 20_000,
    acceptedPerSec: 16_000,
    jobsPerSec: 8000,
    redis: { commands: 640_000, commandSeconds: 1, top: [], slow: [] },
    processes: { noop: { peakRssMb: 140, cpuSeconds: 2 }, redis: { peakRssMb: 30, cpuSeconds: 1 } },
  };

  it('reads the accepted count of a 202 and fails on any other answer with its status and message', () => {
    expect(acceptedFromAnswer(202, { accepted: 500, duplicates: 0, rejected: [] })).toBe(500);
    expect(() =>
      acceptedFromAnswer(503, { accepted: 0, error: 'BACKLOG', message: 'too many batches queued' }),
    ).toThrow('intake answered 503: too many batches queued');
    expect(() => acceptedFromAnswer(401, 'nope')).toThrow('intake answered 401: no message');
    expect(() => acceptedFromAnswer(202, {})).toThrow('intake answered 202');
  });

  it('counts CPU per event of the processes that carried a run, and of Redis', () => {
    const close = (r: { node: number; redis: number }, node: number, redis: number) => {
      expect(r.node).toBeCloseTo(node, 6);
      expect(r.redis).toBeCloseTo(redis, 6);
    };
    close(cpuPerEvent(npmStart()), 80, 15);
    close(cpuPerEvent(naive), 400, 100);
    close(cpuPerEvent(noop), 100, 50);
    const roles = {
      map: { peakRssMb: 1, cpuSeconds: 2, rssGrowthMb: 0 },
      flusher: { peakRssMb: 1, cpuSeconds: 1, rssGrowthMb: 0 },
      deliver: { peakRssMb: 1, cpuSeconds: 3, rssGrowthMb: 0 },
      bench: { peakRssMb: 1, cpuSeconds: 50, rssGrowthMb: 0 },
      redis: { peakRssMb: 1, cpuSeconds: 4, rssGrowthMb: 0 },
    };
    const pipeline = { ...npmStart(), kind: 'pipeline', processes: roles } as unknown as PipelineResult;
    // The bench process (producer SDK, simulator) is not the pipeline's cost.
    close(cpuPerEvent(pipeline), 60, 40);
  });

  it('judges npm start end to end, the window included, against naive; Redis against its limits; Node only reported', () => {
    // 100,000 events all at Target 10 s after the first POST: 10,000/s; naive 3,000 in 4 s: 750/s.
    expect(deliveredPerSec(npmStart())).toBe(10_000);
    const [ratio, redis, node] = npmStartChecks(npmStart(), naive, noop);
    expect(ratio).toEqual({
      target: 'npm start (HTTP): delivered events/s ≥ 10x naive, end to end',
      measured: '13.3x (10000 vs 750/s; all at Target 10.00 s after the first POST)',
      pass: true,
    });
    expect(npmStartChecks(npmStart({ doneSeconds: 20 }), naive, noop)[0]?.pass).toBe(false);
    expect(redis?.pass).toBe(false);
    expect(redis?.measured).toBe('15.0 µs (0.8x), 22.0 commands (2.2x)');
    const cheap = npmStart({ redis: { ...npmStart().redis, commands: 900_000 } });
    expect(npmStartChecks(cheap, naive, noop)[1]?.pass).toBe(true);
    expect(node?.pass).toBeUndefined();
    expect(node?.measured).toBe(
      '80.0 µs (naive W1 400.0 µs Node, 100.0 µs Redis; BullMQ no-op 100.0 µs Node, 50.0 µs Redis)',
    );
    const stuck = npmStartChecks(npmStart({ complete: false, outstanding: 12 }), naive, noop)[0];
    expect(stuck).toMatchObject({
      pass: false,
      measured: expect.stringContaining('12 events not at Target') as string,
    });
    expect(npmStartChecks(npmStart(), undefined, undefined)[0]?.pass).toBeUndefined();
    expect(checkTargets([noop, naive, npmStart()]).map((c) => c.target)).toEqual([
      ratio?.target,
      redis?.target,
      node?.target,
    ]);
  });

  it('shows the run in the table and says how it ran, batches completing at once included', () => {
    const rows = table([noop, naive, npmStart()]).split('\n');
    expect(rows[0]).toContain('CPU µs/event (Node; Redis)');
    expect(rows[4]).toMatch(/^\| npm start \(HTTP\) \| 100,000 \| 12,000 \| 10,000 \|/);
    expect(rows[4]).toContain('| 80.0; 15.0 |');
    expect(rows[4]).toContain('| 200; ');
    expect(rows[3]).toContain('| 400.0; 100.0 |');
    expect(rows[2]).toContain('| 100.0; 50.0 |');
    const note = npmStartNote(npmStart());
    expect(note).toContain('`node dist/workers/all-in-one.js`');
    expect(note).toContain('append-only on (appendfsync everysec)');
    expect(note).toContain('100,000 events Zipf over 20,000 visitors POSTed by 4 clients in batches of 500');
    expect(note).toContain('COALESCE_WINDOW_MS 1000');
    expect(note).toContain('simulator batchProcessingMs 0');
  });
});
