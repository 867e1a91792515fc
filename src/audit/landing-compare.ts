import type { AttributeUpdate } from '../coalesce/in-flight.js';

/**
 * Terminology of the landing audit (docs/operations.md#landing-audit):
 * - sampled delivery: one visitor's delivery that Target accepted, picked at random
 *   (LANDING_AUDIT_SAMPLE) to be read back later;
 * - delivered: what the store says Target should hold now, per attribute (the delivered
 *   hash: the value last accepted and its stamp), which may be newer than the sampled value;
 * - `match`: Target holds the delivered value, or a value written after the delivery left
 *   (a newer value at Target, from a later delivery or another system, is fine);
 * - `missing`: Target has no value for the attribute (or no profile at all);
 * - `different`: Target holds another value, written before the delivery left (or at a time
 *   it does not say): the delivered value did not take.
 */
export type LandingResult = 'match' | 'missing' | 'different';

/** Every result, in the order metrics and summaries list them. */
export const LANDING_RESULTS: readonly LandingResult[] = ['match', 'missing', 'different'];

/** One attribute as the Fetch Profile API returns it. */
export interface TargetAttribute {
  value: string;
  /** ISO 8601, when Target last changed it. */
  modifiedAt?: string;
}

export interface LandingInput {
  /** The sampled delivery's attributes (name → stamp of the value sent). */
  sampled: Readonly<Record<string, string>>;
  /** What the store holds as delivered now (src/coalesce/store.ts readDelivered). */
  delivered: ReadonlyMap<string, AttributeUpdate>;
  /** The profile's attributes, or undefined when Target has no profile (404). */
  profile: Readonly<Record<string, TargetAttribute>> | undefined;
  /** When the sampled delivery left for Target (epoch ms). */
  sentAt: number;
  /**
   * An earlier call with older values may have landed after the delivery (a lost answer,
   * LandingAuditJob.afterLostAnswer): a value changed since `sentAt` is no proof the delivery
   * landed, since that call changed it too, so any other value counts as different.
   */
  strict?: boolean;
}

/** The result for one attribute. */
export interface LandingFinding {
  name: string;
  result: LandingResult;
}

/**
 * Compares one sampled delivery with what Target holds. Pure. Only attributes the store
 * still knows as delivered are judged: one forgotten (erasure) or past
 * DELIVERED_RETENTION_MS has nothing to compare with, and is left out.
 */
export function compareLanding(input: LandingInput): LandingFinding[] {
  const out: LandingFinding[] = [];
  for (const name of Object.keys(input.sampled)) {
    const delivered = input.delivered.get(name);
    if (delivered === undefined) continue;
    out.push({
      name,
      result: judge(delivered.value, input.profile?.[name], input.strict === true ? Infinity : input.sentAt),
    });
  }
  return out;
}

function judge(expected: string, atTarget: TargetAttribute | undefined, sentAt: number): LandingResult {
  if (atTarget === undefined) return 'missing';
  if (atTarget.value === expected) return 'match';
  const modified = atTarget.modifiedAt === undefined ? NaN : Date.parse(atTarget.modifiedAt);
  return modified >= sentAt ? 'match' : 'different';
}

/** Findings counted by result (every result present, 0 when none). Pure. */
export function countLanding(findings: readonly LandingFinding[]): Record<LandingResult, number> {
  const counts: Record<LandingResult, number> = { match: 0, missing: 0, different: 0 };
  for (const { result } of findings) counts[result] += 1;
  return counts;
}

/**
 * Picks each item with probability `share` (0: none, 1: all), one draw of `random` per
 * item; none is drawn when the share is 0, so an audit that is off costs nothing. Pure
 * given `random`.
 */
export function sampleShare<T>(items: readonly T[], share: number, random: () => number = Math.random): T[] {
  if (share <= 0) return [];
  if (share >= 1) return [...items];
  return items.filter(() => random() < share);
}
