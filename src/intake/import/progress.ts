import { Presets, SingleBar } from 'cli-progress';

/** Where an import stands; totals include earlier runs of a resumed import. */
export interface ImportProgress {
  bytesDone: number;
  bytesTotal: number;
  /** Lines read so far (the last line number). */
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Lines and bytes read by this run, and when it started: the rate counts this run only. */
  linesThisRun: number;
  bytesThisRun: number;
  startedAt: number;
}

export interface ProgressView {
  update(progress: ImportProgress): void;
  stop(): void;
}

const number = new Intl.NumberFormat('en-US');

/** Lines per second and seconds left for this run, from its bytes read so far. */
export function rateAndEta(
  p: ImportProgress,
  now = Date.now(),
): { linesPerSecond: number; etaSeconds: number | undefined } {
  const seconds = Math.max((now - p.startedAt) / 1000, 0.001);
  const bytesPerSecond = p.bytesThisRun / seconds;
  return {
    linesPerSecond: Math.round(p.linesThisRun / seconds),
    etaSeconds: bytesPerSecond > 0 ? Math.round((p.bytesTotal - p.bytesDone) / bytesPerSecond) : undefined,
  };
}

/**
 * A progress bar with rate and ETA on a terminal; elsewhere (CI logs, cron, pipes) a plain
 * line every `intervalMs`, since a redrawn bar would fill a log with control characters.
 */
export function progressView(stream: NodeJS.WriteStream, intervalMs = 2000): ProgressView {
  if (stream.isTTY) {
    const bar = new SingleBar(
      {
        stream,
        format:
          '{bar} {percentage}% | {lines} lines | {rate} lines/s | ETA {eta_formatted} | {accepted} accepted, {duplicates} duplicates, {rejected} rejected',
        hideCursor: true,
        etaBuffer: 50,
      },
      Presets.shades_classic,
    );
    let started = false;
    return {
      update(p) {
        const payload = {
          lines: number.format(p.lines),
          rate: number.format(rateAndEta(p).linesPerSecond),
          accepted: number.format(p.accepted),
          duplicates: number.format(p.duplicates),
          rejected: number.format(p.rejected),
        };
        if (!started) bar.start(p.bytesTotal, p.bytesDone, payload);
        else bar.update(p.bytesDone, payload);
        started = true;
      },
      stop: () => bar.stop(),
    };
  }
  // The first line comes after one interval too: a small file finishes without any.
  let last = Date.now();
  return {
    update(p) {
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      const { linesPerSecond, etaSeconds } = rateAndEta(p, now);
      const percent = p.bytesTotal === 0 ? 100 : (p.bytesDone / p.bytesTotal) * 100;
      stream.write(
        `progress ${percent.toFixed(1)}% | ${number.format(p.lines)} lines | ${number.format(linesPerSecond)} lines/s | ETA ${etaSeconds === undefined ? '?' : `${etaSeconds} s`}` +
          ` | ${number.format(p.accepted)} accepted, ${number.format(p.duplicates)} duplicates, ${number.format(p.rejected)} rejected\n`,
      );
    },
    stop: () => undefined,
  };
}
