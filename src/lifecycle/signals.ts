import { loadConfigSubset } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * Time on top of SHUTDOWN_TIMEOUT_MS for closing connections and servers once active jobs
 * are finished or handed back. Past both, shutdown stops waiting.
 */
export const SHUTDOWN_CLOSE_MARGIN_MS = 5_000;

/** How long parts not yet closed get once the deadline has passed (a private redis-server, the simulator). */
const LEFTOVER_CLOSE_MS = 1_000;

export interface LifecycleOptions {
  /**
   * SHUTDOWN_TIMEOUT_MS: how long active jobs get to finish. The whole shutdown may take
   * this plus {@link SHUTDOWN_CLOSE_MARGIN_MS}. Default: SHUTDOWN_TIMEOUT_MS of the
   * environment (already validated at start), else its default of 20 s.
   */
  shutdownTimeoutMs?: number;
}

/**
 * Orderly stop for a process: parts register a close function as they start; SIGTERM or
 * SIGINT closes them in reverse order and exits 0, a second signal exits 1 at once.
 * Handlers are installed before anything starts, so a signal during start-up is not lost
 * to the default action (which would kill the process mid-write).
 *
 * Shutdown has an overall deadline (SHUTDOWN_TIMEOUT_MS + {@link SHUTDOWN_CLOSE_MARGIN_MS}):
 * a part that cannot close, typically because Redis is down and every close waits for it,
 * does not keep the process alive. Past the deadline the process logs which parts did not
 * close and exits 1; exiting drops every connection. Nothing accepted is lost: it is in
 * Redis, and a job whose lock lapses is run again by the next worker.
 */
export class Lifecycle {
  private readonly closers: Closer[] = [];
  private stopping = false;
  private started: Promise<unknown> = Promise.resolve();
  /** The whole shutdown's deadline, from the first signal. */
  readonly deadlineMs: number;

  constructor(
    private readonly logger: Logger,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
    options: LifecycleOptions = {},
  ) {
    const timeoutMs = options.shutdownTimeoutMs ?? shutdownTimeoutFromEnv();
    this.deadlineMs = timeoutMs + SHUTDOWN_CLOSE_MARGIN_MS;
  }

  /** Registers a part to close on shutdown (closed last-in, first-out). */
  add(name: string, close: () => Promise<void>): void {
    this.closers.push({ name, close });
  }

  /** Shutdown waits for start-up to settle before closing, so no part is left half-open. */
  trackStartup<T>(startup: Promise<T>): Promise<T> {
    this.started = startup.catch(() => undefined);
    return startup;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  installSignalHandlers(): void {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (this.stopping) {
        this.logger.warn({ signal }, 'second signal: exiting at once (accepted events stay in Redis)');
        this.exit(1);
        return;
      }
      void this.shutdown(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  /**
   * Closes every registered part in reverse order, then exits 0 (1 if a part failed to
   * close). Past {@link deadlineMs} it stops waiting: the parts never reached get a short
   * chance to close, then the process exits 1 with a log line naming what did not close.
   */
  async shutdown(reason: string): Promise<void> {
    this.stopping = true;
    this.logger.info({ reason, deadlineMs: this.deadlineMs }, 'shutting down: finishing active jobs');
    // `left[0]` is the part closing now; once the deadline passes, the loop closes nothing more.
    const progress: { startedUp: boolean; left: Closer[]; abandoned: boolean } = {
      startedUp: false,
      left: [],
      abandoned: false,
    };
    const orderly = (async (): Promise<boolean> => {
      await this.started;
      progress.startedUp = true;
      progress.left = [...this.closers].reverse();
      let failed = false;
      for (let next = progress.left[0]; next !== undefined && !progress.abandoned; next = progress.left[0]) {
        try {
          await next.close();
        } catch (error) {
          failed = true;
          this.logger.error({ err: error, part: next.name }, 'could not close cleanly');
        }
        if (!progress.abandoned) progress.left.shift();
      }
      return failed;
    })();
    let timer: NodeJS.Timeout | undefined;
    // Not unref'd: a close waiting on nothing the event loop holds must not end the process with 0.
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), this.deadlineMs);
    });
    const outcome = await Promise.race([orderly, deadline]);
    clearTimeout(timer);
    if (outcome !== 'deadline') {
      this.logger.info('stopped');
      this.exit(outcome ? 1 : 0);
      return;
    }
    progress.abandoned = true;
    const stuck = progress.startedUp ? (progress.left[0]?.name ?? 'unknown') : 'start-up';
    // Parts never reached (all of them when start-up itself hangs) get a short chance to close.
    const unreached = progress.startedUp ? progress.left.slice(1) : [...this.closers].reverse();
    const notClosed = [...(progress.startedUp ? [stuck] : []), ...unreached.map((p) => p.name)];
    this.logger.error(
      { deadlineMs: this.deadlineMs, stuck, notClosed },
      `shutdown deadline of ${this.deadlineMs} ms passed while closing ${stuck}: ${notClosed.join(', ') || 'nothing'} did not close; exiting 1 and dropping connections (accepted events stay in Redis)`,
    );
    await closeLeftovers(unreached, this.logger);
    this.exit(1);
  }
}

interface Closer {
  name: string;
  close: () => Promise<void>;
}

/** Gives parts the deadline never reached a brief, bounded chance to close (e.g. stop a private redis-server). */
async function closeLeftovers(parts: readonly Closer[], logger: Logger): Promise<void> {
  if (parts.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const closing = Promise.all(
    parts.map(async ({ name, close }) => {
      try {
        await close();
      } catch (error) {
        logger.error({ err: error, part: name }, 'could not close cleanly');
      }
    }),
  );
  await Promise.race([
    closing,
    new Promise((resolve) => {
      timer = setTimeout(resolve, LEFTOVER_CLOSE_MS);
    }),
  ]);
  clearTimeout(timer);
}

/** SHUTDOWN_TIMEOUT_MS as the config schema reads it (the process validated it at start). */
function shutdownTimeoutFromEnv(): number {
  try {
    return loadConfigSubset(process.env, ['SHUTDOWN_TIMEOUT_MS']).SHUTDOWN_TIMEOUT_MS;
  } catch {
    return loadConfigSubset({}, ['SHUTDOWN_TIMEOUT_MS']).SHUTDOWN_TIMEOUT_MS;
  }
}
