import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { Lifecycle } from '../../src/signals.js';

const logger = createLogger({ level: 'silent', pretty: false });

describe('Lifecycle', () => {
  it('closes parts in reverse start order after start-up settled, then exits 0', async () => {
    const order: string[] = [];
    const exits: number[] = [];
    const lifecycle = new Lifecycle(logger, (code) => exits.push(code));
    let finishStartup: () => void = () => undefined;
    void lifecycle.trackStartup(new Promise<void>((resolve) => { finishStartup = resolve; }));
    lifecycle.add('redis', () => { order.push('redis'); return Promise.resolve(); });
    const stopped = lifecycle.shutdown('SIGTERM');
    // A part that finishes starting after the signal is still closed.
    lifecycle.add('workers', () => { order.push('workers'); return Promise.resolve(); });
    finishStartup();
    await stopped;
    expect(order).toEqual(['workers', 'redis']);
    expect(exits).toEqual([0]);
  });

  it('exits 1 when a part cannot close, after trying the others', async () => {
    const exits: number[] = [];
    const closed: string[] = [];
    const lifecycle = new Lifecycle(logger, (code) => exits.push(code));
    lifecycle.add('a', () => { closed.push('a'); return Promise.resolve(); });
    lifecycle.add('b', () => Promise.reject(new Error('stuck')));
    await lifecycle.shutdown('SIGINT');
    expect(closed).toEqual(['a']);
    expect(exits).toEqual([1]);
  });
});
