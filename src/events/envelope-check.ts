import {
  EVENT_ID_MAX,
  EVENT_TYPE,
  EVENT_TYPE_MAX,
  NON_PRINTABLE,
  PC_ID,
  PC_ID_MAX,
  THIRD_PARTY_ID_MAX,
} from './envelope.js';
import { charLength, parseTimestamp } from './values.js';

/**
 * The event envelope (EventSchema in envelope.ts) as straight-line checks: the hot
 * path of intake, an order of magnitude cheaper than the zod schema and allocating nothing.
 *
 * It only ever answers "surely valid". Anything else — an invalid envelope, but also input
 * it does not judge, such as an object with an unusual prototype or with symbol keys (only
 * SDK callers can pass those) — goes to the zod schema, which alone decides those and words
 * every error. So producers read the same messages as before, and a valid event costs no zod
 * parse. The two must agree on what is valid: test/unit/events/envelope-check.test.ts
 * compares them over many generated envelopes, good and bad. A rule changed in envelope.ts
 * must be changed here too (and {@link ENVELOPE_RULES} bumped).
 */

/**
 * Version of the envelope rules. An ingest job records the version its events were checked
 * under (IngestJob.checkedEnvelope); the map worker skips the envelope check only for jobs
 * checked under its own version, so a producer or intake process of another release never
 * makes it trust an envelope its rules would refuse. Bump it whenever a rule changes.
 */
export const ENVELOPE_RULES = 1;

/**
 * `occurredAt` in UTC epoch ms when `input` is surely a valid envelope (the zod schema
 * would accept it and parse `occurredAt` to the same number); `NaN` otherwise, when only
 * the zod schema can say (and explain) what is wrong.
 */
export function envelopeTime(input: unknown): number {
  if (!isPlainObject(input)) return NaN;
  for (const key in input) {
    switch (key) {
      case 'id':
      case 'type':
      case 'occurredAt':
      case 'visitor':
      case 'data':
        break;
      default:
        return NaN;
    }
  }
  const { id, type, occurredAt, visitor, data } = input;
  if (!isPrintable(id, EVENT_ID_MAX)) return NaN;
  if (typeof type !== 'string' || type.length === 0 || type.length > EVENT_TYPE_MAX || !EVENT_TYPE.test(type))
    return NaN;
  if (!isVisitor(visitor)) return NaN;
  if (data !== undefined && !isScalarRecord(data)) return NaN;
  return typeof occurredAt === 'string' ? parseTimestamp(occurredAt) : NaN;
}

/** VisitorSchema: known keys only, exactly one of mboxPC or mbox3rdPartyId, each well formed. */
function isVisitor(visitor: unknown): boolean {
  if (!isPlainObject(visitor)) return false;
  for (const key in visitor) {
    if (key !== 'mboxPC' && key !== 'mbox3rdPartyId' && key !== 'ecid') return false;
  }
  const { mboxPC, mbox3rdPartyId, ecid } = visitor;
  if ((mboxPC === undefined) === (mbox3rdPartyId === undefined)) return false;
  if (mboxPC !== undefined) {
    if (typeof mboxPC !== 'string' || mboxPC.length === 0 || mboxPC.length > PC_ID_MAX || !PC_ID.test(mboxPC))
      return false;
  } else if (
    !isPrintable(mbox3rdPartyId, THIRD_PARTY_ID_MAX) ||
    mbox3rdPartyId.includes('+') ||
    mbox3rdPartyId.includes('/')
  ) {
    return false;
  }
  return ecid === undefined || isPrintable(ecid, PC_ID_MAX);
}

/** `data`: an object of JSON scalars (finite numbers only), string keys only. */
function isScalarRecord(data: unknown): boolean {
  // Symbol keys are refused by the zod record; JSON never makes them, the SDK might.
  if (!isPlainObject(data) || Object.getOwnPropertySymbols(data).length > 0) return false;
  for (const key in data) {
    // A `__proto__` key (JSON.parse makes it an own key) is skipped by the zod record and
    // checked here: stricter, so never a wrong "valid".
    const value = data[key];
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return false;
    } else if (typeof value !== 'string' && typeof value !== 'boolean' && value !== null) {
      return false;
    }
  }
  return true;
}

/** printableString in envelope.ts: 1 to `max` characters (code points), none of them invisible. */
function isPrintable(value: unknown, max: number): value is string {
  if (typeof value !== 'string') return false;
  const length = charLength(value, max);
  return length > 0 && length <= max && !NON_PRINTABLE.test(value);
}

/**
 * A JSON-style object: what JSON.parse makes (or `Object.create(null)`). Class instances
 * and other exotic objects are left to zod, whose notion of an object is wider.
 */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
