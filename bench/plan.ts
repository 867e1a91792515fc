/**
 * Which runs a bench invocation makes, in order. The full run covers every workload in
 * every delivery mode at full volume. `--quick` must end within two minutes on a shared
 * 2-core machine, so it keeps what each target needs: both baselines (small samples, since
 * their rate is steady after a few thousand events), the `npm start` run over HTTP (what a
 * newcomer runs, bench/npm-start-run.ts), W1 in both modes (the ratio targets),
 * W1 in single mode at 50 % of its rate (the latency target), W2–W4 in auto mode (the
 * production default), and it time-boxes the paced runs.
 */
import type { DeliveryMode } from './pipeline-run.js';
import type { WorkloadName } from './workloads.js';

export interface Step {
  kind: 'noop' | 'naive' | 'npm-start' | 'pipeline';
  workload: WorkloadName;
  mode?: DeliveryMode;
  /** `half`: steady at 50 % of the rate W1 sustained in this mode; `bursts`: 10x bursts over 10 % of it. */
  pace: 'max' | 'half' | 'bursts';
  /** Events; paced runs with `seconds` get rate × seconds instead (capped at `events`). */
  events: number;
  seconds?: number;
  label: string;
}

export interface PlanOptions {
  quick: boolean;
  events: number;
  naiveEvents: number;
  noopEvents: number;
  modes: readonly DeliveryMode[];
  workloads: ReadonlySet<WorkloadName>;
  baselines: boolean;
  paced: boolean;
  /** Events of the `npm start` run; 0 leaves it out. */
  npmStartEvents: number;
}

export function benchPlan(o: PlanOptions): Step[] {
  const steps: Step[] = [];
  if (o.baselines) {
    steps.push({ kind: 'noop', workload: 'W1', pace: 'max', events: o.noopEvents, label: 'BullMQ no-op' });
    steps.push({ kind: 'naive', workload: 'W1', pace: 'max', events: o.naiveEvents, label: 'naive W1' });
  }
  if (o.npmStartEvents > 0)
    steps.push({ kind: 'npm-start', workload: 'W1', pace: 'max', events: o.npmStartEvents, label: 'npm start (HTTP)' });
  // Quick: 6 s at half rate (about 15,000 events, enough for a p99) and one whole 5-s
  // W4 burst period (1 s at 10x, 4 s steady).
  const pacedSeconds = o.quick ? 6 : 120;
  // W1 of every mode always runs, first: the targets and the paced runs need its rate.
  for (const mode of o.modes)
    steps.push({ kind: 'pipeline', workload: 'W1', mode, pace: 'max', events: o.events, label: `W1 ${mode}` });
  for (const mode of o.modes) {
    if (o.paced && (!o.quick || mode === 'single')) {
      steps.push({
        kind: 'pipeline',
        workload: 'W1',
        mode,
        pace: 'half',
        events: o.events,
        seconds: pacedSeconds,
        label: `W1 ${mode} @50%`,
      });
    }
    if (o.quick && mode !== 'auto' && o.modes.includes('auto')) continue;
    for (const name of ['W2', 'W3'] as const) {
      if (o.workloads.has(name))
        steps.push({ kind: 'pipeline', workload: name, mode, pace: 'max', events: o.events, label: `${name} ${mode}` });
    }
    if (o.workloads.has('W4') && o.paced) {
      steps.push({
        kind: 'pipeline',
        workload: 'W4',
        mode,
        pace: 'bursts',
        events: o.events,
        seconds: o.quick ? 5 : 240,
        label: `W4 ${mode}`,
      });
    }
  }
  return steps;
}

/** Events of a paced step: its rate times its duration (bursts: 14 rate-seconds per 5 s), capped. */
export function pacedEvents(step: Step, eventsPerSecond: number): number {
  if (step.seconds === undefined) return step.events;
  const perSecond = step.pace === 'bursts' ? (14 * eventsPerSecond) / 5 : eventsPerSecond;
  return Math.min(step.events, Math.max(1000, Math.round((perSecond * step.seconds) / 1000) * 1000));
}
