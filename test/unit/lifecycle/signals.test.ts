import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../src/logger.js';
import { Lifecycle, SHUTDOWN_CLOSE_MARGIN_MS } from '../../../src/lifecycle/signals.js';

const logger = createLogger({ level: 'silent', pretty: false });

describe('Lifecycle', () => {
  it('closes parts in reverse start order after start-up settled, then exits 0', async () => {
    const order: string[] = [];
    const exits: number[] = [];
    const lifecycle = new Lifecycle(logger, (code) => exits.push(code));
    let finishStartup: () => void = () => undefined;
    void lifecycle.trackStartup(
      new Promise<void>((resolve) => {
        finishStartup = resolve;
      }),
    );
    lifecycle.add('redis', () => {
      order.push('redis');
      return Promise.resolve();
    });
    const stopped = lifecycle.shutdown('SIGTERM');
    // A part that finishes starting after the signal is still closed.
    lifecycle.add('workers', () => {
      order.push('workers');
      return Promise.resolve();
    });
    finishStartup();
    await stopped;
    expect(order).toEqual(['workers', 'redis']);
    expect(exits).toEqual([0]);
  });

  it('exits 1 when a part cannot close, after trying the others', async () => {
    const exits: number[] = [];
    const closed: string[] = [];
    const lifecycle = new Lifecycle(logger, (code) => exits.push(code));
    lifecycle.add('a', () => {
      closed.push('a');
      return Promise.resolve();
    });
    lifecycle.add('b', () => Promise.reject(new Error('stuck')));
    await lifecycle.shutdown('SIGINT');
    expect(closed).toEqual(['a']);
    expect(exits).toEqual([1]);
  });
});

/** A logger whose lines the test reads. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'info',
    pretty: false,
    destination: {
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  });
  return { logger, lines };
}

describe('Lifecycle deadline', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is SHUTDOWN_TIMEOUT_MS plus the closing margin', () => {
    expect(new Lifecycle(logger, () => undefined, { shutdownTimeoutMs: 1000 }).deadlineMs).toBe(
      1000 + SHUTDOWN_CLOSE_MARGIN_MS,
    );
    // Unset in the environment: the config default (20 s).
    expect(new Lifecycle(logger, () => undefined).deadlineMs).toBe(20_000 + SHUTDOWN_CLOSE_MARGIN_MS);
  });

  it('past the deadline exits 1, names the part that hung and those never reached, and still closes those', async () => {
    vi.useFakeTimers();
    const { logger: log, lines } = capturingLogger();
    const exits: number[] = [];
    const closed: string[] = [];
    const lifecycle = new Lifecycle(log, (code) => exits.push(code), { shutdownTimeoutMs: 1000 });
    lifecycle.add('redis-server', () => {
      closed.push('redis-server');
      return Promise.resolve();
    });
    lifecycle.add('pipeline', () => new Promise(() => undefined)); // waits for a Redis that is gone
    lifecycle.add('http', () => {
      closed.push('http');
      return Promise.resolve();
    });
    const stopped = lifecycle.shutdown('SIGTERM');
    await vi.advanceTimersByTimeAsync(lifecycle.deadlineMs - 1);
    expect(exits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await vi.advanceTimersByTimeAsync(2000);
    await stopped;
    expect(exits).toEqual([1]);
    expect(closed).toEqual(['http', 'redis-server']);
    const said = lines.find((l) => l.stuck !== undefined);
    expect(said).toMatchObject({ stuck: 'pipeline', notClosed: ['pipeline', 'redis-server'] });
    expect(String(said?.msg)).toMatch(/while closing pipeline: pipeline, redis-server did not close; exiting 1/);
  });

  it('a start-up that never settles does not hold shutdown past the deadline', async () => {
    vi.useFakeTimers();
    const { logger: log, lines } = capturingLogger();
    const exits: number[] = [];
    const closed: string[] = [];
    const lifecycle = new Lifecycle(log, (code) => exits.push(code), { shutdownTimeoutMs: 500 });
    void lifecycle.trackStartup(new Promise(() => undefined));
    lifecycle.add('simulator', () => {
      closed.push('simulator');
      return Promise.resolve();
    });
    const stopped = lifecycle.shutdown('SIGINT');
    await vi.advanceTimersByTimeAsync(lifecycle.deadlineMs + 2000);
    await stopped;
    expect(exits).toEqual([1]);
    expect(closed).toEqual(['simulator']);
    expect(lines.find((l) => l.stuck !== undefined)).toMatchObject({ stuck: 'start-up', notClosed: ['simulator'] });
  });

  it('a shutdown that finishes in time exits 0 once; the deadline does not fire later', async () => {
    vi.useFakeTimers();
    const exits: number[] = [];
    const lifecycle = new Lifecycle(logger, (code) => exits.push(code), { shutdownTimeoutMs: 1000 });
    lifecycle.add('pipeline', () => new Promise((resolve) => setTimeout(resolve, 900)));
    const stopped = lifecycle.shutdown('SIGTERM');
    await vi.advanceTimersByTimeAsync(900);
    await stopped;
    await vi.advanceTimersByTimeAsync(lifecycle.deadlineMs * 2);
    expect(exits).toEqual([0]);
  });
});
