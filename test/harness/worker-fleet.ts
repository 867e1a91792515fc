import { runBuilt, type RunningProcess } from './spawn-process.js';

/** A slot's current process and whether the test itself stopped it. */
interface Slot {
  proc: RunningProcess;
  stoppedByTest: boolean;
}

/**
 * N child processes of one built entry (default `workers/worker.js`: map, flusher and
 * delivery) on one Redis. Each slot can be killed and started again; `stopAll()` ends every
 * child (SIGTERM, then SIGKILL after a grace period) so no test leaves orphans behind.
 */
export class WorkerFleet {
  private readonly slots: Slot[] = [];
  private readonly everStarted: RunningProcess[] = [];
  /** Output of processes that exited on their own, for the failure message. */
  readonly unexpectedExits: string[] = [];
  /** Processes started, restarts included. */
  started = 0;
  private stopping = false;

  constructor(
    private readonly env: Record<string, string>,
    size: number,
    private readonly entry = 'workers/worker.js',
  ) {
    for (let i = 0; i < size; i += 1) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  private spawn(): Slot {
    const proc = runBuilt(this.entry, { PORT: '0', HOST: '127.0.0.1', START_LOCAL_REDIS: 'false', ...this.env });
    const slot: Slot = { proc, stoppedByTest: false };
    this.started += 1;
    this.everStarted.push(proc);
    void proc.exited.then((code) => {
      if (!slot.stoppedByTest)
        this.unexpectedExits.push(
          `process ${String(proc.child.pid)} exited (${String(code)}):\n${proc.lines.slice(-20).join('\n')}`,
        );
    });
    return slot;
  }

  /** How many output lines of all processes so far (killed ones included) match `pattern`. */
  countLines(pattern: RegExp): number {
    return this.everStarted.reduce((n, p) => n + p.lines.filter((l) => pattern.test(l)).length, 0);
  }

  /** SIGKILLs the process in slot `i`, waits until it is gone, and starts a new one there. */
  async killAndRestart(i: number): Promise<void> {
    const slot = this.slots[i];
    if (slot === undefined) throw new Error(`no worker slot ${i}`);
    if (this.stopping) throw new Error('the worker fleet is stopping');
    slot.stoppedByTest = true;
    slot.proc.kill('SIGKILL');
    await slot.proc.exited;
    // Never start a process once stopAll() began: it would outlive the test.
    if (this.stopping) throw new Error('the worker fleet is stopping');
    this.slots[i] = this.spawn();
  }

  /** Stops every process: SIGTERM (they finish active jobs), SIGKILL after `graceMs`. */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.stoppedByTest = true;
        if (slot.proc.child.exitCode !== null || slot.proc.child.signalCode !== null) return;
        slot.proc.kill('SIGTERM');
        const timer = setTimeout(() => slot.proc.kill('SIGKILL'), graceMs);
        await slot.proc.exited;
        clearTimeout(timer);
      }),
    );
  }
}
