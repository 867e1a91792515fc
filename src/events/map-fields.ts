/**
 * What follows the envelope in validation (validate.ts): the event type, the clock, the
 * data fields and the attribute values of the type's mapping. Pure.
 */
import type { CompiledEventType, CompiledField, CompiledMapping } from './mapping.js';
import { SHA256_HEX_LENGTH } from './mapping-schema.js';
import { charLength, describeValue, formatNumber, formatTimestamp, parseTimestamp, quote } from './values.js';

/** How far ahead of the server clock `occurredAt` may be: tills' clocks drift, but not by days. */
export const MAX_FUTURE_SKEW_MS = 24 * 60 * 60 * 1000;

const EXPECTED: Record<CompiledField['type'], string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  timestamp: 'an ISO-8601 timestamp with a timezone',
};

// Every timestamp formatTimestamp writes is this long (parseTimestamp passes years 1000-9999 only).
const TIMESTAMP_SHAPE = '0000-00-00T00:00:00.000Z';
const NO_DATA: Record<string, unknown> = Object.freeze({});

/**
 * The checks and the mapping after the envelope: the event type, the clock, the data fields
 * and the attribute values. `occurredAtMs` is NaN when the envelope refused it; `accepted`
 * says which paths the envelope did not refuse. Problems are appended to `errors`; values to
 * `attributes`, unless it is undefined (intake only checks).
 */
export function mapFields(
  input: Record<string, unknown>,
  occurredAtMs: number,
  accepted: (path: string) => boolean,
  mapping: CompiledMapping,
  now: number,
  maxValueLength: number,
  errors: string[],
  attributes: Record<string, string> | undefined,
): void {
  let eventType: CompiledEventType | undefined;
  if (typeof input.type === 'string' && accepted('type')) {
    eventType = mapping.types.get(input.type);
    if (eventType === undefined) {
      errors.push(`type: unknown event type ${quote(input.type)}; known types: ${mapping.knownTypes.join(', ')}`);
    }
  }

  // Before 1970 is a till whose clock was never set (some start at 1900), not an offline
  // action; and the visitor store orders events by a stamp of non-negative epoch ms
  // (src/redis/keys.ts), which such a time would break for its whole batch.
  if (occurredAtMs < 0) {
    errors.push(
      `occurredAt: ${formatTimestamp(occurredAtMs)} is before 1970-01-01T00:00:00.000Z; check the sending system's clock`,
    );
  }
  if (occurredAtMs > now + MAX_FUTURE_SKEW_MS) {
    errors.push(
      `occurredAt: ${formatTimestamp(occurredAtMs)} is more than 1 day ahead of the server clock ` +
        `(${formatTimestamp(now)}); check the sending system's clock`,
    );
  }

  if (eventType === undefined) return;
  const data = input.data ?? NO_DATA;
  const values = isRecord(data) ? checkFields(eventType, data, accepted, maxValueLength, errors) : [];
  const id = typeof input.id === 'string' && accepted('id') ? input.id : undefined;
  // Created only when a value is too long: the paths already reported, one error each.
  let tooLong: Set<string> | undefined;
  for (const attribute of eventType.attributes) {
    let value: string | undefined;
    const source = attribute.source;
    switch (source.kind) {
      case 'const':
        value = source.value;
        break;
      case 'occurredAt':
        if (Number.isNaN(occurredAtMs)) value = undefined;
        else value = attributes === undefined ? TIMESTAMP_SHAPE : formatTimestamp(occurredAtMs);
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
        if (value !== undefined && attributes !== undefined) attributes[attribute.name] = value;
        continue;
      case 'hash': {
        // The raw value is private: only its digest is sent, always 64 characters.
        const text = values[source.field];
        if (text === undefined) continue;
        if (SHA256_HEX_LENGTH > maxValueLength)
          tooLong = reportTooLong(
            tooLong,
            errors,
            attribute.sourcePath,
            SHA256_HEX_LENGTH,
            maxValueLength,
            attribute.name,
          );
        // Undefined in a mapping resolved for validation only: producers hold no salts.
        if (source.digest !== undefined && attributes !== undefined) attributes[attribute.name] = source.digest(text);
        continue;
      }
    }
    if (value === undefined) continue;
    const length = charLength(value, maxValueLength);
    if (length > maxValueLength)
      tooLong = reportTooLong(tooLong, errors, attribute.sourcePath, length, maxValueLength, attribute.name);
    if (attributes !== undefined) attributes[attribute.name] = value;
  }
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
      } else if (!isWellFormed(text)) {
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

/**
 * False exactly when `text` holds an unpaired surrogate: String.prototype.isWellFormed
 * (ES2024, native in Node 20; the ES2023 typings this project compiles with do not list it).
 */
function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

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

/** Reports a too-long value once per source path; returns the set of reported paths. */
function reportTooLong(
  reported: Set<string> | undefined,
  errors: string[],
  path: string,
  length: number,
  max: number,
  attribute: string,
): Set<string> {
  const paths = reported ?? new Set<string>();
  if (!paths.has(path)) {
    paths.add(path);
    errors.push(tooLongMessage(path, length, max, attribute));
  }
  return paths;
}

function tooLongMessage(path: string, length: number, max: number, attribute: string): string {
  return `${path}: is ${length} characters long; Target accepts at most ${max} (attribute ${attribute})`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
