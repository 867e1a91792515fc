import { describe, expect, it } from 'vitest';
import { routeVisitors, type RoutingInput } from '../../../src/flush/routing.js';

const known3p = { ref: { kind: 'thirdPartyId' as const, id: 'CRM-1' }, known: true };
const new3p = { ref: { kind: 'thirdPartyId' as const, id: 'CRM-2' }, known: false };
const newPc = { ref: { kind: 'pcId' as const, id: '1-2.01_00' }, known: false };
const roomy = { limit: 1_000_000, used: 0, usedLastHour: 0 };

function input(overrides: Partial<RoutingInput>): RoutingInput {
  return { mode: 'auto', visitors: [known3p, new3p, newPc], bulkThreshold: 100, single: roomy, ...overrides };
}

describe('routeVisitors', () => {
  it('follows a forced mode', () => {
    expect(routeVisitors(input({ mode: 'single' }))).toEqual(['single', 'single', 'single']);
    expect(routeVisitors(input({ mode: 'bulk' }))).toEqual(['bulk', 'bulk', 'bulk']);
  });

  it('sends a small flush by single calls, except third-party ids Target may not know', () => {
    expect(routeVisitors(input({}))).toEqual(['single', 'bulk', 'single']);
  });

  it('sends a large flush by bulk', () => {
    expect(routeVisitors(input({ bulkThreshold: 3 }))).toEqual(['bulk', 'bulk', 'bulk']);
  });

  it('moves to bulk when the budget left cannot cover this flush', () => {
    expect(routeVisitors(input({ single: { limit: 1000, used: 998, usedLastHour: 0 } }))).toEqual([
      'bulk',
      'bulk',
      'bulk',
    ]);
  });

  it('moves to bulk when the current pace would spend the daily budget', () => {
    // 50,000 calls in the last hour is 1.2M a day: over a 1M budget.
    expect(routeVisitors(input({ single: { limit: 1_000_000, used: 60_000, usedLastHour: 50_000 } }))).toEqual([
      'bulk',
      'bulk',
      'bulk',
    ]);
    expect(routeVisitors(input({ single: { limit: 1_000_000, used: 60_000, usedLastHour: 40_000 } }))).toEqual([
      'single',
      'bulk',
      'single',
    ]);
  });
});
