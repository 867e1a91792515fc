import type { ImportSummary } from './import-file.js';

const number = new Intl.NumberFormat('en-US');

function linesPerSecond(summary: ImportSummary): number {
  return Math.round(summary.linesThisRun / Math.max(summary.elapsedMs / 1000, 0.001));
}

/** The summary an operator reads at the end of an import. */
export function formatSummary(file: string, source: string, s: ImportSummary, peakRssBytes: number): string {
  const status = {
    completed: 'completed',
    interrupted: 'interrupted; run the same command again to resume',
    'already-imported': 'already imported (nothing to do; --restart reads it again)',
  }[s.status];
  const rows: Array<[string, string]> = [
    [
      'lines',
      `${number.format(s.lines)}${s.resumedAfterLine !== undefined ? ` (resumed after line ${number.format(s.resumedAfterLine)})` : ''}`,
    ],
    ['accepted', number.format(s.accepted)],
    ['duplicates', number.format(s.duplicates)],
    ['rejected', `${number.format(s.rejected)}${s.rejectsPath !== undefined ? `, listed in ${s.rejectsPath}` : ''}`],
    ['elapsed', `${(s.elapsedMs / 1000).toFixed(1)} s, ${number.format(linesPerSecond(s))} lines/s`],
    ['peak RSS', `${Math.round(peakRssBytes / 1024 / 1024)} MB`],
  ];
  return `import of ${file} as source "${source}": ${status}\n${rows.map(([k, v]) => `  ${k.padEnd(11)}${v}`).join('\n')}\n`;
}

/** The same as one JSON object (`--json`), for scripts. */
export function summaryJson(
  file: string,
  source: string,
  s: ImportSummary,
  peakRssBytes: number,
): Record<string, unknown> {
  return { file, source, ...s, linesPerSecond: linesPerSecond(s), peakRssBytes };
}
