import { isBlankLine, parseJsonLine } from './json-line.js';
import { describeJsonSyntaxProblem } from './json-syntax.js';
import { firstInvalidUtf8Byte } from './utf8.js';

/**
 * Turns an intake request body into events: one JSON object, a JSON array of them, or
 * NDJSON (one event per line). Works on the raw bytes so invalid UTF-8 is refused, not
 * silently replaced, and so a broken NDJSON line is rejected alone.
 */

/** The body formats POST /v1/events takes, by media type. */
export type BodyFormat = 'json' | 'ndjson';

const MEDIA_TYPES: Record<string, BodyFormat> = {
  'application/json': 'json',
  'application/x-ndjson': 'ndjson',
};

/** The media types intake takes, for 415 answers. */
export const SUPPORTED_MEDIA_TYPES = Object.keys(MEDIA_TYPES);

/**
 * The format of a `Content-Type` header, or why it is not taken. A charset other than
 * UTF-8 is refused: everything downstream (dedupe keys, Target values) is UTF-8.
 */
export function bodyFormatOf(contentType: string | undefined): { format: BodyFormat } | { problem: string } {
  const supported = `send ${SUPPORTED_MEDIA_TYPES.join(' or ')}`;
  if (contentType === undefined || contentType.trim() === '')
    return { problem: `Content-Type is missing; ${supported}` };
  const [media = '', ...params] = contentType.split(';').map((part) => part.trim().toLowerCase());
  const format = MEDIA_TYPES[media];
  // The header is the producer's own text; it is quoted only after checking it is a plain media type.
  const shown = /^[a-z0-9!#$&^_.+-]{1,40}\/[a-z0-9!#$&^_.+-]{1,60}$/.test(media) ? `"${media}"` : 'this Content-Type';
  if (format === undefined) return { problem: `${shown} is not accepted; ${supported}` };
  for (const param of params) {
    const [name, value = ''] = param.split('=').map((p) => p.trim().replace(/^"|"$/g, ''));
    if (name === 'charset' && value !== 'utf-8' && value !== 'utf8')
      return { problem: 'only UTF-8 bodies are accepted (charset=utf-8)' };
  }
  return { format };
}

/** The events found in a body, with where each came from. */
export interface ParsedBody {
  /** Parsed JSON values, in order; each still has to pass validation. */
  events: unknown[];
  /** For each entry of `events`, its index in the request: array position or 0-based NDJSON line. */
  positions: number[];
  /** NDJSON lines that are not JSON (or not UTF-8), each rejected alone. */
  rejected: Array<{ index: number; errors: string[] }>;
}

/** A body that cannot be read as a whole; `status` is the HTTP answer (400 or 413). */
export class BodyError extends Error {
  constructor(
    readonly code: 'INVALID_UTF8' | 'INVALID_JSON' | 'EMPTY_BODY' | 'TOO_MANY_EVENTS',
    message: string,
    readonly status: 400 | 413 = 400,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Reads a body; throws {@link BodyError} for a body that cannot be taken at all. */
export function parseBody(body: Buffer, format: BodyFormat, maxEvents: number): ParsedBody {
  // Some Windows tools start UTF-8 files with a byte order mark; it is not part of the JSON.
  const bytes = body.subarray(0, 3).equals(BOM) ? body.subarray(3) : body;
  return format === 'json' ? parseJson(bytes, maxEvents) : parseNdjson(bytes, maxEvents);
}

function parseJson(bytes: Buffer, maxEvents: number): ParsedBody {
  const invalid = firstInvalidUtf8Byte(bytes);
  if (invalid !== -1)
    throw new BodyError(
      'INVALID_UTF8',
      `request body is not valid UTF-8 (first bad byte at offset ${invalid}); send UTF-8 encoded JSON`,
    );
  const text = bytes.toString('utf8');
  if (text.trim() === '')
    throw new BodyError('EMPTY_BODY', 'request body is empty; send an event object, an array of events or NDJSON');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BodyError('INVALID_JSON', `request body is not valid JSON: ${describeJsonSyntaxProblem(text)}`);
  }
  const events = Array.isArray(value) ? (value as unknown[]) : [value];
  if (events.length === 0) throw new BodyError('EMPTY_BODY', 'the array holds no events');
  if (events.length > maxEvents) throw tooMany(events.length, maxEvents);
  return { events, positions: events.map((_, i) => i), rejected: [] };
}

function parseNdjson(bytes: Buffer, maxEvents: number): ParsedBody {
  // Counted before any parsing, so an oversized request costs a scan, not a parse.
  const lines = splitLines(bytes);
  const count = lines.reduce((n, line) => n + (isBlankLine(line) ? 0 : 1), 0);
  if (count === 0) throw new BodyError('EMPTY_BODY', 'request body holds no lines; send one JSON event per line');
  if (count > maxEvents) throw tooMany(count, maxEvents);
  const parsed: ParsedBody = { events: [], positions: [], rejected: [] };
  lines.forEach((line, index) => {
    if (isBlankLine(line)) return;
    const result = parseJsonLine(line);
    // `body:` leads the message so metrics fold every unreadable line into one reason label.
    if ('problem' in result) parsed.rejected.push({ index, errors: [`body: line ${index + 1} is ${result.problem}`] });
    else {
      parsed.events.push(result.value);
      parsed.positions.push(index);
    }
  });
  return parsed;
}

/** Splits on LF (a byte that never occurs inside a UTF-8 sequence); drops a CR before it. */
function splitLines(bytes: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end === -1) end = bytes.length;
    const stop = end > start && bytes[end - 1] === 0x0d ? end - 1 : end;
    lines.push(bytes.subarray(start, stop));
    start = end + 1;
  }
  return lines;
}

function tooMany(count: number, max: number): BodyError {
  return new BodyError(
    'TOO_MANY_EVENTS',
    `request holds ${count} events; at most ${max} per request (INTAKE_MAX_EVENTS): split it`,
    413,
  );
}
