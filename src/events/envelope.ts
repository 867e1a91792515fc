import { z } from 'zod';
import { expecting } from './issues.js';
import { charLength, describeValue, kindOf, parseTimestamp, quote } from './values.js';

/**
 * The event envelope producers send, and the identity rules Target imposes on it.
 *
 * Terminology: an *event* is one offline action (a kiosk visit, a funded loan); its
 * *visitor* is the Target profile it updates, named by `mboxPC` (Target's own visitor id,
 * "tntId") or `mbox3rdPartyId` (the producer's CRM or loyalty id). The producer (*source*)
 * is known from its API key and is never read from the body, so one till cannot write
 * events in another's name.
 */

/** Longest event id; ids are dedupe keys, so they stay short. */
export const EVENT_ID_MAX = 128;
/** Longest event type name. */
export const EVENT_TYPE_MAX = 64;
/** Longest `mbox3rdPartyId` Target accepts (documented). */
export const THIRD_PARTY_ID_MAX = 256;
/** Longest `mboxPC`; real tntIds are about 30 characters. */
export const PC_ID_MAX = 128;

// The rules below are shared with the compiled check in envelope-check.ts, which must
// accept exactly what these schemas accept.

/**
 * "Printable": no control, format (zero-width), surrogate or private-use characters, and
 * no line or paragraph separators. Invisible characters in an id make two ids that look
 * the same dedupe as different events.
 */
export const NON_PRINTABLE = /[\p{C}\u2028\u2029]/u;
export const EVENT_TYPE = /^[a-z][a-z0-9_]*$/;
/**
 * tntIds look like `1368007744041-575948.01_00`. Nothing outside this set appears in them,
 * and refusing the rest keeps query-string syntax (&, =, +, %) out of the id.
 */
export const PC_ID = /^[A-Za-z0-9._-]+$/;

function printableString(max: number): z.ZodString {
  return z.string({ error: expecting('a string') }).superRefine((value, ctx) => {
    const length = charLength(value, max);
    if (length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' });
    if (length > max) ctx.addIssue({ code: 'custom', message: `must be at most ${max} characters, got ${length}` });
    if (NON_PRINTABLE.test(value)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must contain only printable characters (no control or invisible characters)',
      });
    }
  });
}

/** Event type name: `kiosk_visit`. */
export const EventTypeSchema = z.string({ error: expecting('a string') }).superRefine((value, ctx) => {
  if (value.length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' });
  else if (value.length > EVENT_TYPE_MAX) {
    ctx.addIssue({ code: 'custom', message: `must be at most ${EVENT_TYPE_MAX} characters, got ${value.length}` });
  } else if (!EVENT_TYPE.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `must start with a lowercase letter and use only a-z, 0-9 and "_", got ${quote(value)}`,
    });
  }
});

/** `occurredAt`: an ISO-8601 timestamp with a timezone, parsed to UTC epoch milliseconds. */
export const TimestampSchema = z
  .string({ error: expecting('an ISO-8601 timestamp with a timezone') })
  .transform((text, ctx) => {
    const ms = parseTimestamp(text);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: `expected an ISO-8601 timestamp with a timezone, got ${quote(text)}` });
      return z.NEVER;
    }
    return ms;
  });

const PcIdSchema = z.string({ error: expecting('a string') }).superRefine((value, ctx) => {
  if (value.length === 0 || value.length > PC_ID_MAX || !PC_ID.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `must be 1 to ${PC_ID_MAX} characters from A-Z, a-z, 0-9, ".", "_" and "-" (a Target tntId such as 1368007744041-575948.01_00), got ${quote(value)}`,
    });
  }
});

const ThirdPartyIdSchema = printableString(THIRD_PARTY_ID_MAX).superRefine((value, ctx) => {
  if (value.includes('+') || value.includes('/')) {
    ctx.addIssue({ code: 'custom', message: 'must not contain "+" or "/" (Target rejects them)' });
  }
});

/** The visitor an event updates: exactly one of `mboxPC` or `mbox3rdPartyId`. */
export const VisitorSchema = z
  .strictObject(
    {
      mboxPC: PcIdSchema.optional(),
      mbox3rdPartyId: ThirdPartyIdSchema.optional(),
      // Accepted so producers that know only some visitors' ids can send one shape, but
      // never used: Target's update APIs do not take ECIDs.
      ecid: printableString(PC_ID_MAX).optional(),
    },
    { error: expecting('an object with mboxPC or mbox3rdPartyId') },
  )
  .superRefine((visitor, ctx) => {
    const hasPc = visitor.mboxPC !== undefined;
    const hasThirdParty = visitor.mbox3rdPartyId !== undefined;
    if (hasPc && hasThirdParty) {
      ctx.addIssue({ code: 'custom', message: 'send exactly one of mboxPC or mbox3rdPartyId, not both' });
    } else if (!hasPc && !hasThirdParty) {
      ctx.addIssue({
        code: 'custom',
        message:
          visitor.ecid !== undefined
            ? 'ECID is not supported by the Target profile update APIs; send mboxPC or mbox3rdPartyId'
            : 'needs mboxPC or mbox3rdPartyId',
      });
    }
  });
export type Visitor = z.infer<typeof VisitorSchema>;

/** A data value: JSON scalars only, since every one ends up as one Target string. */
export const DataValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: (issue) =>
    typeof issue.input === 'number'
      ? `expected a finite number, got ${describeValue(issue.input)}`
      : `expected a string, number, boolean or null, got ${kindOf(issue.input)}`,
});

/**
 * The envelope producers send. `occurredAt` comes out as UTC epoch milliseconds. Unknown
 * top-level keys are refused (a typo such as `occuredAt` must not pass silently), and so
 * is `source`. Which data fields a type needs is the mapping's business (see validate.ts);
 * this schema only checks that data holds scalars.
 */
export const EventSchema = z.strictObject(
  {
    id: printableString(EVENT_ID_MAX),
    type: EventTypeSchema,
    occurredAt: TimestampSchema,
    visitor: VisitorSchema,
    data: z.record(z.string(), DataValueSchema, { error: expecting('an object') }).default({}),
  },
  { error: expecting('a JSON object') },
);
/** A parsed event (`occurredAt` in epoch ms). */
export type Event = z.infer<typeof EventSchema>;
/** What a producer sends (`occurredAt` as an ISO-8601 string). */
export type EventInput = z.input<typeof EventSchema>;

/** Why a key is refused in the envelope, with the likely intended key where there is one. */
export function explainUnknownEnvelopeKey(parent: readonly PropertyKey[], key: string): string {
  if (parent.length === 0) {
    if (key === 'source') return 'not accepted in the event body; the source is taken from the API key';
    return 'unknown field; an event has only id, type, occurredAt, visitor and data';
  }
  if (parent.length === 1 && parent[0] === 'visitor') {
    const hint = VISITOR_KEY_HINTS[key];
    return hint === undefined
      ? 'unknown field; visitor takes mboxPC or mbox3rdPartyId'
      : `unknown field; did you mean ${hint}?`;
  }
  return 'unknown field';
}

// Names producers reach for, often from the bulk file's column names or other Adobe APIs.
const VISITOR_KEY_HINTS: Partial<Record<string, string>> = {
  thirdPartyId: 'mbox3rdPartyId',
  mbox3rdpartyid: 'mbox3rdPartyId',
  mbox3rdPartyID: 'mbox3rdPartyId',
  pcId: 'mboxPC',
  tntId: 'mboxPC',
  mboxPc: 'mboxPC',
  mboxpc: 'mboxPC',
  ECID: 'ecid',
  mcid: 'ecid',
};

/** A visitor as the rest of the pipeline names it: which id Target gets, and the id. */
export interface VisitorRef {
  kind: 'pcId' | 'thirdPartyId';
  id: string;
}

/** The VisitorRef of a visitor that passed {@link VisitorSchema}. */
export function visitorRefOf(visitor: Visitor): VisitorRef {
  if (visitor.mboxPC !== undefined) return { kind: 'pcId', id: visitor.mboxPC };
  if (visitor.mbox3rdPartyId !== undefined) return { kind: 'thirdPartyId', id: visitor.mbox3rdPartyId };
  throw new Error('visitorRefOf: visitor has neither mboxPC nor mbox3rdPartyId');
}

/**
 * A string key for a visitor (`pc:<id>` or `3p:<id>`), for Redis keys and maps. The kind
 * is part of the key because a tntId and a CRM id may be equal strings yet name two
 * different Target profiles.
 */
export function visitorKey(ref: VisitorRef): string {
  switch (ref.kind) {
    case 'pcId':
      return `pc:${ref.id}`;
    case 'thirdPartyId':
      return `3p:${ref.id}`;
  }
}

/** The inverse of {@link visitorKey}; throws on anything it did not produce. */
/**
 * `mboxPC:<id>` or `mbox3rdPartyId:<id>`, as the CLI and admin filters name a visitor.
 * Strict: a mistyped kind is an error, never a guess. Pure.
 */
export function parseVisitorArgument(value: string): VisitorRef {
  const colon = value.indexOf(':');
  const kind = value.slice(0, Math.max(0, colon));
  const id = value.slice(colon + 1);
  if (colon > 0 && id !== '' && kind === 'mboxPC') return { kind: 'pcId', id };
  if (colon > 0 && id !== '' && kind === 'mbox3rdPartyId') return { kind: 'thirdPartyId', id };
  throw new Error('visitor: expected mboxPC:<id> or mbox3rdPartyId:<id>');
}

export function parseVisitorKey(key: string): VisitorRef {
  const id = key.slice(3);
  if (id.length > 0) {
    if (key.startsWith('pc:')) return { kind: 'pcId', id };
    if (key.startsWith('3p:')) return { kind: 'thirdPartyId', id };
  }
  throw new Error(`not a visitor key (expected "pc:<id>" or "3p:<id>"): ${quote(key)}`);
}
