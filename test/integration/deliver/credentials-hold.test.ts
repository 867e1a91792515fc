import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logger.js';
import { CredentialsHold, type ProbeResult } from '../../../src/deliver/credentials-hold.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';

describe('CredentialsHold (shared through Redis)', () => {
  let redisA: Redis;
  let redisB: Redis;
  let prefix: string;
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'info',
    pretty: false,
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });

  beforeEach(() => {
    redisA = newRedis();
    redisB = newRedis();
    prefix = uniquePrefix('hold');
    lines.length = 0;
  });
  afterEach(async () => {
    await deletePrefix(redisA, prefix);
    await redisA.quit();
    await redisB.quit();
  });

  it('is opened by one process and seen by all; one probe at a time; a changed token is probed at once; it lifts itself', async () => {
    let answer: ProbeResult = 'refused';
    let probes = 0;
    let token = 'old';
    const probe = async (): Promise<{ result: ProbeResult; status: number }> => {
      probes += 1;
      await new Promise((r) => setTimeout(r, 50));
      return { result: answer, status: 401 };
    };
    const options = { probe, logger, firstProbeMs: 2000, maxProbeMs: 30_000, cacheMs: 0, currentToken: () => token };
    const a = new CredentialsHold(redisA, prefix, options);
    const b = new CredentialsHold(redisB, prefix, options);
    const t0 = Date.now();
    await Promise.all([a.open(401, t0), b.open(401, t0)]);
    // Opened once, logged once, seen by the other process.
    expect(lines.filter((l) => String(l.msg).startsWith('Target refused our credentials'))).toHaveLength(1);
    expect(await b.state()).toMatchObject({ status: 401, probes: 0, tokenChanged: false });
    // Not due yet: nobody probes.
    await Promise.all([a.tick(t0 + 1000), b.tick(t0 + 1000)]);
    expect(probes).toBe(0);
    // Due: two processes tick together, one probe is made; refused, the backoff doubles.
    await Promise.all([a.tick(t0 + 2100), b.tick(t0 + 2100)]);
    expect(probes).toBe(1);
    expect(await a.state()).toMatchObject({ probes: 1 });
    await a.tick(t0 + 4000);
    expect(probes).toBe(1);
    // The token changed (a file rewritten): the process that probed the old one sees it and
    // probes at once (every process ticks), accepted, lifted for everyone.
    token = 'new';
    answer = 'accepted';
    await Promise.all([a.tick(t0 + 4100), b.tick(t0 + 4100)]);
    expect(probes).toBe(2);
    expect(await a.state()).toBeUndefined();
    expect(lines.some((l) => l.msg === 'Target accepts our credentials again: delivery resumes')).toBe(true);
    // Refused again within a minute: the next probe waits the backoff reached, not 2 s.
    await a.open(401, t0 + 5000);
    const reopened = Number(await redisA.hget(`{${prefix}}:hold:credentials`, 'nextProbeAt'));
    expect(reopened - (t0 + 5000)).toBeGreaterThanOrEqual(8000);
  });
});
