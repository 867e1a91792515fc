import { z } from 'zod';
import { parseVisitorArgument, visitorKey } from '../events/index.js';
import { UNKNOWN_SOURCE, type DeadLetter } from '../jobs/catalog.js';
import { visitorKeysOf } from './visitor-filter.js';

const STAGES = ['map', 'deliver-single', 'deliver-bulk', 'bulk-status'] as const;

const instant = z.union([
  z.string().regex(/^\d+$/).transform(Number),
  z
    .string()
    .refine((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO-8601 time or epoch milliseconds')
    .transform((s) => Date.parse(s)),
]);

/** Which dead letters a command applies to; every given field must match. */
export const DeadLetterFilterSchema = z
  .object({
    stage: z.enum(STAGES, { error: `expected one of ${STAGES.join(', ')}` }).optional(),
    /** Error code, e.g. TARGET_HTTP_400 or EVENT_INVALID. */
    code: z.string().min(1).max(64).optional(),
    /**
     * Producer source: matches an entry of that source, and a delivery-stage entry whose
     * values came (partly) from it (`sources`); `unknown` (UNKNOWN_SOURCE) matches entries
     * without a single known source.
     */
    source: z.string().min(1).max(64).optional(),
    /** A visitor, `mboxPC:<id>` or `mbox3rdPartyId:<id>`: entries holding its values or raw events. */
    visitor: z
      .string()
      .max(1100)
      .transform((value, ctx) => {
        try {
          return visitorKey(parseVisitorArgument(value));
        } catch {
          ctx.addIssue({ code: 'custom', message: 'expected mboxPC:<id> or mbox3rdPartyId:<id>' });
          return z.NEVER;
        }
      })
      .optional(),
    /** Last attempt at or after this time. */
    since: instant.optional(),
    /** Last attempt before this time. */
    until: instant.optional(),
  })
  .strict();
export type DeadLetterFilter = z.infer<typeof DeadLetterFilterSchema>;

/** Does a dead letter match the filter? Pure. */
export function matchesFilter(entry: DeadLetter, filter: DeadLetterFilter): boolean {
  if (filter.stage !== undefined && entry.stage !== filter.stage) return false;
  if (filter.code !== undefined && entry.error.code !== filter.code) return false;
  if (
    filter.source !== undefined &&
    (entry.source ?? UNKNOWN_SOURCE) !== filter.source &&
    entry.sources?.includes(filter.source) !== true
  )
    return false;
  if (filter.visitor !== undefined && !visitorKeysOf(entry).includes(filter.visitor)) return false;
  if (filter.since !== undefined && entry.lastAttemptAt < filter.since) return false;
  if (filter.until !== undefined && entry.lastAttemptAt >= filter.until) return false;
  return true;
}

/** Reads a filter from CLI options or a query string; throws a message naming the bad field. */
export function parseFilter(input: Record<string, unknown>): DeadLetterFilter {
  const cleaned = Object.fromEntries(
    Object.entries(input).filter(
      ([k, v]) => v !== undefined && ['stage', 'code', 'source', 'visitor', 'since', 'until'].includes(k),
    ),
  );
  const parsed = DeadLetterFilterSchema.safeParse(cleaned);
  if (!parsed.success)
    throw new FilterError(parsed.error.issues.map((i) => `${i.path.join('.') || 'filter'}: ${i.message}`));
  return parsed.data;
}

export class FilterError extends Error {
  readonly code = 'FILTER_INVALID';
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'FilterError';
  }
}
