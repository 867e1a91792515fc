import type { Logger } from './logger.js';

/**
 * Orderly stop for a process: parts register a close function as they start; SIGTERM or
 * SIGINT closes them in reverse order and exits 0, a second signal exits 1 at once.
 * Handlers are installed before anything starts, so a signal during start-up is not lost
 * to the default action (which would kill the process mid-write).
 */
export class Lifecycle {
  private readonly closers: Array<{ name: string; close: () => Promise<void> }> = [];
  private stopping = false;
  private started: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly logger: Logger,
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {}

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

  /** Closes every registered part in reverse order, then exits 0 (1 if a part failed to close). */
  async shutdown(reason: string): Promise<void> {
    this.stopping = true;
    this.logger.info({ reason }, 'shutting down: finishing active jobs');
    await this.started;
    let failed = false;
    for (const { name, close } of this.closers.reverse()) {
      try {
        await close();
      } catch (error) {
        failed = true;
        this.logger.error({ err: error, part: name }, 'could not close cleanly');
      }
    }
    this.logger.info('stopped');
    this.exit(failed ? 1 : 0);
  }
}
