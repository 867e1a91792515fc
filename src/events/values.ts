/**
 * Value parsing and formatting shared by the envelope, the mapping and validation. Target
 * stores every profile attribute as a string, so the string form chosen here is what
 * operators will see in Target: it must be stable, unambiguous and free of exponents.
 */

/** How many characters of a rejected value an error message may quote. */
const QUOTE_LIMIT = 40;

// Extended ISO-8601 only (RFC 3339 plus a few ISO spellings): a date, a time and a
// timezone, as in
//   ^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$
// A timestamp without a zone is ambiguous for a till in another country, so the zone is
// required rather than guessed. Read character by character: intake parses one per event,
// and the regular expression's match array and substrings were a fifth of its garbage.

// toISOString() only yields the plain 24-character form for years 0000..9999; years
// before 1000 are far more likely a typo than an offline action, so they are refused too.
const MIN_MS = Date.UTC(1000, 0, 1);
const MAX_MS = Date.UTC(10000, 0, 1) - 1;

// Days of each month (1-based) in a common year; a table, not a Date per timestamp parsed.
const MONTH_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  return (MONTH_DAYS[month] ?? 0) + (month === 2 && isLeapYear(year) ? 1 : 0);
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** The number written by `count` ASCII digits at `at`, or -1 when they are not all digits. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i += 1) {
    const digit = text.charCodeAt(i) - 48;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Parses an ISO-8601 timestamp that carries a timezone (`Z`, `+01:00`, `+0100` or `+01`)
 * into UTC epoch milliseconds; fractions below a millisecond are truncated. Returns `NaN`
 * for anything else, including impossible dates such as 2026-02-30 (which `Date.parse`
 * would silently roll over).
 */
export function parseTimestamp(text: string): number {
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0) return NaN;
  const t = text.charCodeAt(10);
  if (text[4] !== '-' || text[7] !== '-' || (t !== 84 && t !== 116) || text[13] !== ':') return NaN; // T, t
  let at = 16;
  let second = 0;
  let ms = 0;
  if (text[at] === ':') {
    second = digitsAt(text, at + 1, 2);
    if (second < 0) return NaN;
    at += 3;
    if (text[at] === '.' || text[at] === ',') {
      const start = at + 1;
      let end = start;
      while (end < text.length && end - start < 9 && digitsAt(text, end, 1) >= 0) end += 1;
      if (end === start) return NaN;
      // Milliseconds: the first three digits, padded (".1" is 100 ms).
      for (let i = start; i < start + 3; i += 1) ms = ms * 10 + (i < end ? text.charCodeAt(i) - 48 : 0);
      at = end;
    }
  }
  let offsetMinutes = 0;
  const zone = text[at];
  if (zone === 'Z' || zone === 'z') {
    at += 1;
  } else if (zone === '+' || zone === '-') {
    const offH = digitsAt(text, at + 1, 2);
    if (offH < 0) return NaN;
    at += 3;
    let offM = 0;
    if (at < text.length) {
      if (text[at] === ':') at += 1;
      offM = digitsAt(text, at, 2);
      if (offM < 0) return NaN;
      at += 2;
    }
    if (offH > 23 || offM > 59) return NaN;
    offsetMinutes = (zone === '-' ? -1 : 1) * (offH * 60 + offM);
  } else {
    return NaN;
  }
  if (at !== text.length) return NaN;
  // Date.UTC reads years 0..99 as 1900..1999, so early years are refused before it runs.
  if (year < 1000) return NaN;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  if (hour > 23 || minute > 59 || second > 59) return NaN;
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMinutes * 60_000;
  return utc >= MIN_MS && utc <= MAX_MS ? utc : NaN;
}

/** Formats epoch milliseconds as Target receives timestamps: `2026-11-21T10:15:00.000Z`. */
export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Formats a number as a plain decimal string: never an exponent (`1e21` becomes
 * `1000000000000000000000`, `1.5e-7` becomes `0.00000015`), `-0` becomes `0`. Returns
 * `undefined` for `NaN` and the infinities, which have no decimal form.
 */
export function formatNumber(n: number): string | undefined {
  if (!Number.isFinite(n)) return undefined;
  if (n === 0) return '0'; // also covers -0, which String() already prints as "0"
  const text = String(n);
  const e = text.indexOf('e');
  if (e === -1) return text;
  // String() gives the shortest round-trip digits; only the decimal point moves.
  const negative = text.startsWith('-');
  const mantissa = text.slice(negative ? 1 : 0, e);
  const exponent = Number(text.slice(e + 1));
  const point = mantissa.indexOf('.');
  const digits = point === -1 ? mantissa : mantissa.slice(0, point) + mantissa.slice(point + 1);
  const newPoint = (point === -1 ? mantissa.length : point) + exponent;
  let plain: string;
  if (newPoint >= digits.length) plain = digits + '0'.repeat(newPoint - digits.length);
  else if (newPoint <= 0) plain = `0.${'0'.repeat(-newPoint)}${digits}`;
  else plain = `${digits.slice(0, newPoint)}.${digits.slice(newPoint)}`;
  return negative ? `-${plain}` : plain;
}

/**
 * Length in Unicode code points (what a person calls characters), so an emoji counts
 * once. The fast path skips the count when even UTF-16 units fit.
 */
export function charLength(text: string, limit: number): number {
  if (text.length <= limit) return text.length;
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Quotes a string for an error message, cut to ~40 characters so a payload never floods a log. */
export function quote(text: string): string {
  const cut = text.length > QUOTE_LIMIT ? `${text.slice(0, QUOTE_LIMIT)}…` : text;
  return JSON.stringify(cut);
}

/** The kind of a value in words: `a string`, `a number`, `an object`, `null`. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  const t = typeof value;
  return t === 'object' ? 'an object' : `a ${t}`;
}

/**
 * Describes a rejected value for an error message: strings quoted and truncated, numbers
 * and booleans as written, containers by kind only. With `hidden`, only the kind is given:
 * private fields (card numbers) must never reach an error, a log or a dead letter.
 */
export function describeValue(value: unknown, hidden = false): string {
  if (hidden) return `${kindOf(value)} (value hidden: private field)`;
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return `${quote(String(value))} (a bigint)`;
  return kindOf(value);
}

/** A name safe to print as part of an error path: plain names as is, anything else quoted. */
export function printableKey(key: string): string {
  return /^[A-Za-z0-9_.$-]{1,64}$/.test(key) ? key : quote(key);
}
