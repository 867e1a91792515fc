import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../../src/metrics/metrics.js';

/**
 * The shipped Prometheus rules and Grafana dashboard (docs/operations.md#alerts) name only
 * metrics the process registers, and every alert links a runbook section that exists. A rule
 * that names a metric nobody exports never fires, so this is the check that keeps them honest.
 */
const ROOT = resolve(import.meta.dirname, '../../..');
const RULES_FILE = 'ops/prometheus/target-ingest.rules.yml';
const RULES_TESTS_FILE = 'ops/prometheus/target-ingest.rules.test.yml';
const DASHBOARD_FILE = 'ops/grafana/target-ingest.json';
const read = (path: string): string => readFileSync(resolve(ROOT, path), 'utf8');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}

const rules = parse(read(RULES_FILE)) as RuleFile;
const allRules = rules.groups.flatMap((group) => group.rules);
const alerts = allRules.filter((rule) => rule.alert !== undefined);
const dashboard = JSON.parse(read(DASHBOARD_FILE)) as unknown;

/** `ti_*` names in PromQL or text; not the tail of a longer name or of a recorded `a:ti_b:c`. */
function metricNamesIn(text: string): string[] {
  return [...text.matchAll(/(?<![A-Za-z0-9_:])ti_[a-z0-9_]+/g)].map((match) => match[0]);
}

/** Recording-rule names (`level:metric:operation`) used in PromQL. */
function recordedNamesIn(expr: string): string[] {
  return [...expr.matchAll(/(?<![A-Za-z0-9_:])[A-Za-z_][A-Za-z0-9_]*:[A-Za-z0-9_:]+/g)].map((match) => match[0]);
}

/** What `new Metrics()` registers, the Node defaults (`ti_process_*`) included, with each type. */
async function registered(): Promise<Map<string, string>> {
  const metrics = await new Metrics().registry.getMetricsAsJSON();
  return new Map(metrics.map((metric) => [metric.name, String(metric.type)]));
}

/** The names among `used` that the process does not export (histogram series resolve to their histogram). */
function unknownNames(used: Iterable<string>, known: Map<string, string>): string[] {
  const unknown = new Set<string>();
  for (const name of used) {
    if (known.has(name)) continue;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (base !== name && known.get(base) === 'histogram') continue;
    unknown.add(name);
  }
  return [...unknown].sort();
}

/** Every PromQL string of the dashboard: panel targets and template-variable queries. */
function dashboardQueries(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) dashboardQueries(item, out);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'definition' || key === 'query') && typeof value === 'string') out.push(value);
      else dashboardQueries(value, out);
    }
  }
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  for (const match of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    const text = (match[1] ?? '').replace(/`/g, '');
    found.add(
      text
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return found;
}

function hasPromtool(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
}

describe('the shipped alert rules and dashboard', () => {
  it('name only metrics that the process registers (rules: expressions and annotations)', async () => {
    const known = await registered();
    const used = allRules.flatMap((rule) => [
      ...metricNamesIn(rule.expr),
      ...Object.values(rule.annotations ?? {}).flatMap(metricNamesIn),
    ]);
    expect(used.length).toBeGreaterThan(20);
    expect(
      unknownNames(used, known),
      `${RULES_FILE} names metrics that src/metrics/metrics.ts does not register`,
    ).toEqual([]);
  });

  it('name only metrics that the process registers (dashboard)', async () => {
    const known = await registered();
    const used = dashboardQueries(dashboard).flatMap(metricNamesIn);
    expect(used.length).toBeGreaterThan(20);
    expect(
      unknownNames(used, known),
      `${DASHBOARD_FILE} names metrics that src/metrics/metrics.ts does not register`,
    ).toEqual([]);
  });

  it('the check catches a misspelt metric, a histogram suffix on a non-histogram and a made-up one', async () => {
    const known = await registered();
    const expr =
      'sum(rate(ti_events_acepted_total[5m])) + sum(rate(ti_dead_letters_total_count[5m])) + ' +
      'max(ti_landing_audit_misses_total) + histogram_quantile(0.9, rate(ti_intake_to_merge_seconds_bucket[5m]))';
    expect(unknownNames(metricNamesIn(expr), known)).toEqual([
      'ti_dead_letters_total_count',
      'ti_events_acepted_total',
      'ti_landing_audit_misses_total',
    ]);
    expect(metricNamesIn('source:ti_source_last_event_seconds:max1d + multi_x')).toEqual([]);
  });

  it('the dashboard shows every metric the process registers', async () => {
    const names = (await new Metrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name);
    const shown = new Set(dashboardQueries(dashboard).flatMap(metricNamesIn));
    const strip = (name: string): string => name.replace(/_(bucket|sum|count)$/, '');
    const shownBases = new Set([...shown].map(strip));
    const missing = names.filter((name) => !shown.has(name) && !shownBases.has(name));
    expect(missing, `add a panel for these to ${DASHBOARD_FILE}`).toEqual([]);
  });

  it('use recorded series only where a recording rule defines them', () => {
    const recorded = new Set(allRules.flatMap((rule) => (rule.record === undefined ? [] : [rule.record])));
    for (const rule of allRules) {
      for (const name of recordedNamesIn(rule.expr)) expect(recorded.has(name), `${name} in ${rule.expr}`).toBe(true);
    }
  });

  it('give every alert a severity, a summary, a description and a runbook section that exists', () => {
    const sections = anchors(read('docs/operations.md'));
    expect(alerts.length).toBeGreaterThanOrEqual(15);
    const names = new Set<string>();
    for (const alert of alerts) {
      const name = alert.alert ?? '';
      expect(names.has(name), `${name} twice`).toBe(false);
      names.add(name);
      expect(['page', 'warn', 'ticket'], name).toContain(alert.labels?.severity);
      expect(alert.annotations?.summary, name).toBeTruthy();
      expect(alert.annotations?.description, name).toBeTruthy();
      const runbook = alert.annotations?.runbook ?? '';
      expect(runbook, name).toMatch(/^docs\/operations\.md#[a-z0-9-]+$/);
      expect(sections.has(runbook.split('#')[1] ?? ''), `${name}: no heading for ${runbook}`).toBe(true);
    }
    for (const wanted of [
      'TargetIngestCredentialsRefused',
      'TargetIngestBulkLimitShared',
      'TargetIngestBulkBudgetExhausted',
      'TargetIngestSourceSilent',
      'TargetIngestDeadLetters',
    ])
      expect(names).toContain(wanted);
  });

  it('the dashboard queries go through its Prometheus data-source variable', () => {
    const text = read(DASHBOARD_FILE);
    expect(text).toContain('"uid": "${datasource}"');
    const panels = (dashboard as { panels: Array<{ type: string; title: string; targets?: unknown[] }> }).panels;
    for (const panel of panels.filter((p) => p.type !== 'row'))
      expect(panel.targets?.length ?? 0, panel.title).toBeGreaterThan(0);
  });

  // promtool is Debian's `prometheus` package: .ci/run installs it, so CI always checks; a
  // developer machine without it skips this one test (`npm run check:rules` needs it too).
  const ci = process.env.CI === 'true';
  it.skipIf(!ci && !hasPromtool())('promtool accepts the rules and their unit tests pass', () => {
    if (!hasPromtool())
      throw new Error("promtool is missing: CI must check the rules (.ci/run installs Debian's prometheus package)");
    for (const args of [
      ['check', 'rules', RULES_FILE],
      ['test', 'rules', RULES_TESTS_FILE],
    ]) {
      const run = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8' });
      expect(run.status, `promtool ${args.join(' ')}\n${run.stdout}${run.stderr}`).toBe(0);
    }
  });
});
