/**
 * `application/x-www-form-urlencoded` decoding, done strictly because the simulator exists
 * to catch encoding mistakes: `+` is a space, `%XX` are UTF-8 bytes, and a malformed escape
 * (`%zz`, a lone `%`, bytes that are not UTF-8) is an error rather than passed through the
 * way lenient parsers (URLSearchParams, fast-querystring) would.
 */

/** Shortens client text quoted in an error message (a name can be 60 KB long). */
export function preview(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** Plain percent-decoding (`+` stays `+`); undefined when malformed. */
export function decodePercent(text: string): string | undefined {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Form decoding of one name or value (`+` is a space); undefined when malformed. */
export function decodeFormComponent(text: string): string | undefined {
  return decodePercent(text.includes('+') ? text.replace(/\+/g, ' ') : text);
}

/** Says where percent-decoding of `text` breaks, for a specific error message. */
export function describeMalformed(text: string): string {
  const bad = /%(?![0-9A-Fa-f]{2})/.exec(text);
  if (bad !== null) return `a "%" at offset ${bad.index} is not followed by two hex digits`;
  return 'its percent-escapes do not form valid UTF-8';
}

/** One decoded `name=value` pair. */
export interface FormPair {
  name: string;
  value: string;
}

/** Result of decoding a whole form string. */
export type FormParse = { ok: true; pairs: FormPair[] } | { ok: false; message: string };

/**
 * Splits on `&`, then on the first `=` of each part, and decodes both halves. Empty parts
 * (`a=1&&b=2`) are skipped; a part without `=` is a name with an empty value.
 */
export function parseForm(text: string): FormParse {
  const pairs: FormPair[] = [];
  if (text === '') return { ok: true, pairs };
  const parts = text.split('&');
  for (const [index, part] of parts.entries()) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    const name = decodeFormComponent(rawName);
    if (name === undefined) {
      return { ok: false, message: `parameter #${index + 1} has a malformed name: ${describeMalformed(rawName)}` };
    }
    const value = decodeFormComponent(rawValue);
    if (value === undefined) {
      return {
        ok: false,
        message: `value of parameter "${preview(name)}" is malformed: ${describeMalformed(rawValue)}`,
      };
    }
    pairs.push({ name, value });
  }
  return { ok: true, pairs };
}
