import { EventSchema, explainUnknownEnvelopeKey, visitorRefOf, type Visitor, type VisitorRef } from './envelope.js';
import { envelopeTime } from './envelope-check.js';
import { formatIssues } from './issues.js';
import { isRecord, mapFields } from './map-fields.js';
import type { CompiledMapping } from './mapping.js';
import { ATTRIBUTE_VALUE_MAX } from './mapping-schema.js';
import { parseTimestamp } from './values.js';

export { MAX_FUTURE_SKEW_MS } from './map-fields.js';

/** An event that passed validation, mapped to Target attributes. */
export interface ValidEvent {
  id: string;
  type: string;
  /** `occurredAt` as UTC epoch milliseconds. */
  occurredAtMs: number;
  visitor: VisitorRef;
  /** Bare attribute names (no `profile.` prefix) to their string values. */
  attributes: Record<string, string>;
}

/** Either the mapped event, or every problem found, each as `<path>: <problem>`. */
export type ValidationResult = { ok: true; event: ValidEvent } | { ok: false; errors: string[] };

export interface ValidateOptions {
  /** The server clock (epoch ms); `occurredAt` more than a day after it is refused. */
  now: number;
  /** Longest mapped value, in characters. Default 256, Target's documented limit. */
  maxValueLength?: number;
}

/**
 * Validates one event against the envelope and its type's mapping, and maps it to Target
 * attributes. Returns every problem at once, so a producer fixes an event in one round.
 * Unknown data fields are ignored (tills send more than we map); private fields are
 * checked but their values never appear in errors. A valid envelope is recognised by the
 * compiled check (envelope-check.ts); the zod schema runs only to decide and explain the rest.
 */
export function validateEvent(input: unknown, mapping: CompiledMapping, options: ValidateOptions): ValidationResult {
  const maxValueLength = options.maxValueLength ?? ATTRIBUTE_VALUE_MAX;
  const occurredAtMs = envelopeTime(input);
  if (Number.isNaN(occurredAtMs)) return explainEvent(input, mapping, options);
  return mapEnvelope(input as Envelope, occurredAtMs, mapping, options.now, maxValueLength);
}

/**
 * Intake's check: the same verdict and errors as {@link validateEvent}, without building
 * the attributes it would throw away (the map worker maps the raw event). `undefined`: valid.
 */
export function checkEvent(input: unknown, mapping: CompiledMapping, options: ValidateOptions): string[] | undefined {
  const maxValueLength = options.maxValueLength ?? ATTRIBUTE_VALUE_MAX;
  const occurredAtMs = envelopeTime(input);
  if (Number.isNaN(occurredAtMs)) {
    const explained = explainEvent(input, mapping, options);
    return explained.ok ? undefined : explained.errors;
  }
  scratchErrors.length = 0;
  mapFields(
    input as Envelope,
    occurredAtMs,
    ALL_ACCEPTED,
    mapping,
    options.now,
    maxValueLength,
    scratchErrors,
    undefined,
  );
  return scratchErrors.length > 0 ? scratchErrors.splice(0) : undefined;
}

// checkEvent's list of problems, reused (it runs synchronously, so no two calls share it):
// a valid event, the common case, allocates none.
const scratchErrors: string[] = [];

/**
 * The map worker's path for an event whose envelope intake already checked under the same
 * rules (an ingest job with `checkedEnvelope` = ENVELOPE_RULES): it is mapped without
 * checking the envelope again. The mapping's own checks still run (the map's mapping file
 * may differ from the producer's). Input that is plainly not what intake checked (a job
 * edited by hand) gets the full validation instead.
 */
export function mapCheckedEvent(input: unknown, mapping: CompiledMapping, options: ValidateOptions): ValidationResult {
  if (!looksLikeEnvelope(input)) return validateEvent(input, mapping, options);
  const occurredAtMs = parseTimestamp(input.occurredAt);
  if (Number.isNaN(occurredAtMs)) return validateEvent(input, mapping, options);
  return mapEnvelope(input, occurredAtMs, mapping, options.now, options.maxValueLength ?? ATTRIBUTE_VALUE_MAX);
}

/** An envelope the compiled check (or intake) found valid. */
interface Envelope extends Record<string, unknown> {
  id: string;
  type: string;
  occurredAt: string;
  visitor: Visitor;
}

function looksLikeEnvelope(input: unknown): input is Envelope {
  if (!isRecord(input) || typeof input.id !== 'string' || typeof input.type !== 'string') return false;
  if (typeof input.occurredAt !== 'string' || !isRecord(input.visitor)) return false;
  const { mboxPC, mbox3rdPartyId } = input.visitor;
  return typeof mboxPC === 'string' || typeof mbox3rdPartyId === 'string';
}

function mapEnvelope(
  input: Envelope,
  occurredAtMs: number,
  mapping: CompiledMapping,
  now: number,
  maxValueLength: number,
): ValidationResult {
  const errors: string[] = [];
  const attributes: Record<string, string> = {};
  mapFields(input, occurredAtMs, ALL_ACCEPTED, mapping, now, maxValueLength, errors, attributes);
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    event: { id: input.id, type: input.type, occurredAtMs, visitor: visitorRefOf(input.visitor), attributes },
  };
}

const ALL_ACCEPTED = (): boolean => true;

/**
 * The zod path alone: decides what the compiled check was not sure of, and words every
 * problem. {@link validateEvent} gives the same answer for every input
 * (test/unit/events/envelope-check.test.ts); exported for that test.
 */
export function explainEvent(input: unknown, mapping: CompiledMapping, options: ValidateOptions): ValidationResult {
  const { now } = options;
  const maxValueLength = options.maxValueLength ?? ATTRIBUTE_VALUE_MAX;
  const parsed = EventSchema.safeParse(input);
  const errors = parsed.success ? [] : formatIssues(parsed.error.issues, 'event', explainUnknownEnvelopeKey);
  if (!isRecord(input)) return { ok: false, errors };

  // Paths the envelope already refused, so the checks below neither repeat nor contradict them.
  const refused = new Set<string>(parsed.success ? [] : parsed.error.issues.map((issue) => issue.path.join('.')));
  const accepted = (path: string): boolean => !refused.has(path);
  let occurredAtMs = NaN;
  if (typeof input.occurredAt === 'string' && accepted('occurredAt')) {
    occurredAtMs = parsed.success ? parsed.data.occurredAt : parseTimestamp(input.occurredAt);
  }
  const attributes: Record<string, string> = {};
  mapFields(input, occurredAtMs, accepted, mapping, now, maxValueLength, errors, attributes);

  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  const event = parsed.data;
  return {
    ok: true,
    event: {
      id: event.id,
      type: event.type,
      occurredAtMs: event.occurredAt,
      visitor: visitorRefOf(event.visitor),
      attributes,
    },
  };
}
