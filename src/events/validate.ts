import { EventSchema, explainUnknownEnvelopeKey, visitorRefOf, type VisitorRef } from './envelope.js';
import { formatIssues } from './issues.js';
import type { CompiledEventType, CompiledField, CompiledMapping } from './mapping.js';
import { ATTRIBUTE_VALUE_MAX, SHA256_HEX_LENGTH } from './mapping-schema.js';
import { charLength, describeValue, formatNumber, formatTimestamp, parseTimestamp, quote } from './values.js';

/** How far ahead of the server clock `occurredAt` may be: tills' clocks drift, but not by days. */
export const MAX_FUTURE_SKEW_MS = 24 * 60 * 60 * 1000;

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

const EXPECTED: Record<CompiledField['type'], string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  timestamp: 'an ISO-8601 timestamp with a timezone',
};

/**
 * Validates one event against the envelope and its type's mapping, and maps it to Target
 * attributes. Returns every problem at once, so a producer fixes an event in one round.
 * Unknown data fields are ignored (tills send more than we map); private fields are
 * checked but their values never appear in errors.
 */
export function validateEvent(input: unknown, mapping: CompiledMapping, options: ValidateOptions): ValidationResult {
  const maxValueLength = options.maxValueLength ?? ATTRIBUTE_VALUE_MAX;
  const parsed = EventSchema.safeParse(input);
  const errors = parsed.success ? [] : formatIssues(parsed.error.issues, 'event', explainUnknownEnvelopeKey);
  if (!isRecord(input)) return { ok: false, errors };

  // Paths the envelope already refused, so the checks below neither repeat nor contradict them.
  const refused = new Set<string>(parsed.success ? [] : parsed.error.issues.map((issue) => issue.path.join('.')));
  const accepted = (path: string): boolean => !refused.has(path);

  let eventType: CompiledEventType | undefined;
  if (typeof input.type === 'string' && accepted('type')) {
    eventType = mapping.types.get(input.type);
    if (eventType === undefined) {
      errors.push(`type: unknown event type ${quote(input.type)}; known types: ${mapping.knownTypes.join(', ')}`);
    }
  }

  let occurredAtMs = NaN;
  if (typeof input.occurredAt === 'string' && accepted('occurredAt')) {
    occurredAtMs = parsed.success ? parsed.data.occurredAt : parseTimestamp(input.occurredAt);
    if (occurredAtMs > options.now + MAX_FUTURE_SKEW_MS) {
      errors.push(
        `occurredAt: ${formatTimestamp(occurredAtMs)} is more than 1 day ahead of the server clock ` +
          `(${formatTimestamp(options.now)}); check the sending system's clock`,
      );
    }
  }

  const attributes: Record<string, string> = {};
  if (eventType !== undefined) {
    const data = input.data ?? {};
    const values = isRecord(data) ? checkFields(eventType, data, accepted, maxValueLength, errors) : [];
    const id = typeof input.id === 'string' && accepted('id') ? input.id : undefined;
    const tooLong = new Set<string>();
    for (const attribute of eventType.attributes) {
      let value: string | undefined;
      const source = attribute.source;
      switch (source.kind) {
        case 'const':
          value = source.value;
          break;
        case 'occurredAt':
          value = Number.isNaN(occurredAtMs) ? undefined : formatTimestamp(occurredAtMs);
          break;
        case 'id':
          value = id;
          break;
        case 'type':
          value = eventType.type;
          break;
        case 'data':
          // Data values were length-checked once per field in checkFields.
          value = values[source.field];
          if (value !== undefined) attributes[attribute.name] = value;
          continue;
        case 'hash': {
          // The raw value is private: only its digest is sent, always 64 characters.
          const text = values[source.field];
          if (text === undefined) continue;
          if (SHA256_HEX_LENGTH > maxValueLength && !tooLong.has(attribute.sourcePath)) {
            tooLong.add(attribute.sourcePath);
            errors.push(tooLongMessage(attribute.sourcePath, SHA256_HEX_LENGTH, maxValueLength, attribute.name));
          }
          // Undefined in a mapping resolved for validation only: producers hold no salts.
          if (source.digest !== undefined) attributes[attribute.name] = source.digest(text);
          continue;
        }
      }
      if (value === undefined) continue;
      const length = charLength(value, maxValueLength);
      if (length > maxValueLength && !tooLong.has(attribute.sourcePath)) {
        tooLong.add(attribute.sourcePath);
        errors.push(tooLongMessage(attribute.sourcePath, length, maxValueLength, attribute.name));
      }
      attributes[attribute.name] = value;
    }
  }

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

/**
 * Checks the type's declared fields and returns their Target strings by field index
 * (`undefined`: absent, or refused). Absent, `null` and `""` all mean "not given": an
 * empty value cannot be sent consistently (the bulk API ignores empty cells), so it sets
 * nothing rather than sometimes clearing an attribute.
 */
function checkFields(
  eventType: CompiledEventType,
  data: Record<string, unknown>,
  accepted: (path: string) => boolean,
  maxValueLength: number,
  errors: string[],
): (string | undefined)[] {
  const values: (string | undefined)[] = [];
  for (const field of eventType.fields) {
    const value = Object.hasOwn(data, field.name) ? data[field.name] : undefined;
    let text: string | undefined;
    if (!accepted(field.path)) {
      // Already reported by the envelope (not a scalar).
    } else if (value === undefined || value === null || value === '') {
      if (field.required) {
        errors.push(`${field.path}: required for ${eventType.type}${value === '' ? ', got an empty string' : ''}`);
      }
    } else {
      text = toTargetString(field, value);
      if (text === undefined) {
        errors.push(`${field.path}: ${mismatch(field, value)}`);
      } else if (LONE_SURROGATE.test(text)) {
        // A lone surrogate cannot be encoded as UTF-8: it would fail every delivery attempt.
        errors.push(`${field.path}: contains invalid Unicode (an unpaired surrogate); send well-formed UTF-8 text`);
        text = undefined;
      } else if (field.mapped) {
        const length = charLength(text, maxValueLength);
        if (length > maxValueLength) {
          errors.push(tooLongMessage(field.path, length, maxValueLength, mappedNames(eventType, values.length)));
          text = undefined;
        }
      }
    }
    values.push(text);
  }
  return values;
}

/** With the `u` flag a paired surrogate is one code point, so only unpaired ones match. */
const LONE_SURROGATE = /\p{Surrogate}/u;

function toTargetString(field: CompiledField, value: unknown): string | undefined {
  switch (field.type) {
    case 'string':
      return typeof value === 'string' ? value : undefined;
    case 'number':
      return typeof value === 'number' ? formatNumber(value) : undefined;
    case 'boolean':
      return typeof value === 'boolean' ? String(value) : undefined;
    case 'timestamp': {
      if (typeof value !== 'string') return undefined;
      const ms = parseTimestamp(value);
      return Number.isNaN(ms) ? undefined : formatTimestamp(ms);
    }
  }
}

function mismatch(field: CompiledField, value: unknown): string {
  // NaN and the infinities are numbers without a decimal form; say so rather than "expected a number".
  if (field.type === 'number' && typeof value === 'number') return `expected a finite number, got ${String(value)}`;
  return `expected ${EXPECTED[field.type]}, got ${describeValue(value, field.private)}`;
}

function mappedNames(eventType: CompiledEventType, fieldIndex: number): string {
  return eventType.attributes
    .filter((a) => a.source.kind === 'data' && a.source.field === fieldIndex)
    .map((a) => a.name)
    .join(', ');
}

function tooLongMessage(path: string, length: number, max: number, attribute: string): string {
  return `${path}: is ${length} characters long; Target accepts at most ${max} (attribute ${attribute})`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
