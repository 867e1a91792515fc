import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACK_CODES, MERGE_CODES, RENEW_CODES, codeName } from '../../../src/coalesce/script-codes.js';
import { VisitorStore, type VisitorSnapshot } from '../../../src/coalesce/store.js';
import type { ValidEvent } from '../../../src/events/index.js';
import type { RedisClient } from '../../../src/redis/connection.js';

/**
 * A client whose store commands answer with fixed replies: what the store makes of a code
 * no script returns today (a script changed on one side only, or a new code added).
 */
function storeAnswering(replies: Record<string, unknown>): VisitorStore {
  const client = { defineCommand: () => undefined, ...replies } as unknown as RedisClient;
  return new VisitorStore(client, {
    prefix: 'codes',
    coalesceWindowMs: 1000,
    dedupeWindowMs: 60_000,
    deliveredRetentionMs: 60_000,
    leaseMs: 5000,
  });
}

const EVENT: ValidEvent = {
  id: 'e1',
  type: 'test',
  occurredAtMs: Date.parse('2026-11-21T10:00:00.000Z'),
  visitor: { kind: 'thirdPartyId', id: 'CRM-1' },
  attributes: { tier: 'gold' },
};

const SNAPSHOT: VisitorSnapshot = {
  vk: '3p:CRM-1',
  attributes: new Map([['tier', { value: 'gold', stamp: '001795255200000|e1' }]]),
};

describe('VisitorStore: return codes of its scripts', () => {
  it('maps the merge codes by name', async () => {
    const store = storeAnswering({ tiMerge: () => Promise.resolve([1]) });
    expect(await store.merge('pos', [EVENT])).toEqual(['applied']);
  });

  it('fails on a merge code it does not know, naming the script and the code, instead of counting it applied', async () => {
    const store = storeAnswering({ tiMerge: () => Promise.resolve([7]) });
    await expect(store.merge('pos', [EVENT])).rejects.toThrow(/merge-events.*\b7\b/);
  });

  it('fails when the merge script returns fewer codes than events', async () => {
    const store = storeAnswering({ tiMerge: () => Promise.resolve([]) });
    await expect(store.merge('pos', [EVENT])).rejects.toThrow(/merge-events.*no code/);
  });

  it('fails on an ack code it does not know instead of calling the claim lost', async () => {
    const store = storeAnswering({ tiAck: () => Promise.resolve([9]) });
    await expect(store.ack('c1', SNAPSHOT)).rejects.toThrow(/ack-delivered.*\b9\b/);
  });
});

/** The `local NAME, ... = 0, ...` return-code constants a script declares, by lower-case name. */
function luaCodes(script: string): Record<string, number> {
  const text = readFileSync(new URL(`../../../src/coalesce/lua/${script}.lua`, import.meta.url), 'utf8');
  const line = /^local ([A-Z_, ]+) = ([\d, ]+)$/m.exec(text);
  if (line === null) throw new Error(`${script}.lua declares no return codes`);
  const names = (line[1] ?? '').split(',').map((n) => n.trim().toLowerCase());
  const values = (line[2] ?? '').split(',').map(Number);
  return Object.fromEntries(names.map((name, k) => [name, values[k] ?? NaN]));
}

describe('script return codes', () => {
  it('names each code as its script does', () => {
    expect(luaCodes('merge-events')).toEqual(MERGE_CODES);
    expect(luaCodes('ack-delivered')).toEqual(ACK_CODES);
    expect(luaCodes('renew-lease')).toEqual(RENEW_CODES);
  });

  it('maps a code to its name, and fails on any other reply naming the script and the reply', () => {
    expect(codeName('ack-delivered', ACK_CODES, 2)).toBe('more');
    expect(() => codeName('ack-delivered', ACK_CODES, 3)).toThrow(
      'Lua script ack-delivered.lua returned 3, not one of its codes (0 lost, 1 done, 2 more)',
    );
    expect(() => codeName('ack-delivered', ACK_CODES, '1')).toThrow(/returned "1"/);
    expect(() => codeName('ack-delivered', ACK_CODES, undefined)).toThrow(/returned no code/);
  });
});
