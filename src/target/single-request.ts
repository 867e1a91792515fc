import type { VisitorRef } from '../events/index.js';

/** Documented size limits of the Single Profile Update API (docs/target.md). */
export const SINGLE_GET_LIMIT_BYTES = 8 * 1024;
export const SINGLE_POST_LIMIT_BYTES = 60 * 1024;
/** Documented: all external profile data of one visitor together at or under 64 KB. */
export const PROFILE_DATA_LIMIT_BYTES = 64 * 1024;

/** One HTTP request of a single profile update. */
export interface SingleRequest {
  method: 'GET' | 'POST';
  /** Path and query (GET), or path only (POST). */
  pathAndQuery: string;
  /** Form body for POST. */
  body?: string;
  /** Attribute names this request carries. */
  attributes: string[];
  /**
   * Set on a POST whose body is over 60 KB although it carries one attribute only: no
   * request can carry that attribute. The client refuses the update instead of sending it.
   */
  oversize?: true;
}

/**
 * Plans the requests for one visitor's update: one GET while the request target (path and
 * query) fits in 8 KB, else form-encoded POSTs of at most 60 KB each. Attributes are never
 * cut: an update too big for one POST is split between attributes into several requests (P8).
 *
 * Written choice (Adobe does not say what the 60 KB counts): the bytes of the parameters, i.e.
 * a POST's query string plus its form body, not the path or headers. These POSTs carry
 * everything in the body, so each body is at most 61,440 bytes; the simulator measures the
 * same way. An attribute that alone makes a body over 61,440 bytes gets a request of its own
 * marked `oversize` — the plan stays complete (callers count its calls), and
 * {@link singleUpdateProblem} refuses it before anything is sent.
 *
 * Encoding: names and values go through encodeURIComponent, so `&`, `=`, `+`, `%`, `#` and
 * any Unicode arrive as the same UTF-8 bytes; nothing a value holds can add a parameter.
 */
export function planSingleUpdate(
  clientCode: string,
  visitor: VisitorRef,
  attributes: ReadonlyMap<string, string>,
): SingleRequest[] {
  const path = `/m2/${encodeURIComponent(clientCode)}/profile/update`;
  const idParam = `${visitor.kind === 'pcId' ? 'mboxPC' : 'mbox3rdPartyId'}=${encodeURIComponent(visitor.id)}`;
  const params: Array<{ name: string; text: string }> = [];
  for (const [name, value] of attributes) {
    params.push({ name, text: `profile.${encodeURIComponent(name)}=${encodeURIComponent(value)}` });
  }
  const all = [idParam, ...params.map((p) => p.text)].join('&');
  const getTarget = `${path}?${all}`;
  // Every encoded character is ASCII, so string length is byte length.
  if (getTarget.length <= SINGLE_GET_LIMIT_BYTES) {
    return [{ method: 'GET', pathAndQuery: getTarget, attributes: params.map((p) => p.name) }];
  }
  const requests: SingleRequest[] = [];
  const push = (body: string, names: string[]): void => {
    const oversize = body.length > SINGLE_POST_LIMIT_BYTES;
    requests.push({
      method: 'POST',
      pathAndQuery: path,
      body,
      attributes: names,
      ...(oversize ? { oversize: true as const } : {}),
    });
  };
  let body = idParam;
  let names: string[] = [];
  for (const param of params) {
    if (names.length > 0 && body.length + 1 + param.text.length > SINGLE_POST_LIMIT_BYTES) {
      push(body, names);
      body = idParam;
      names = [];
    }
    body = `${body}&${param.text}`;
    names.push(param.name);
  }
  if (names.length > 0) push(body, names);
  return requests;
}

/**
 * Bytes of profile data an update carries: the UTF-8 bytes of every attribute name plus its
 * value, empty values left out (they set nothing). Adobe does not say how it measures its
 * 64 KB; this is the simulator's measure too (src/simulator/limits.ts MAX_PROFILE_BYTES).
 */
export function profileDataBytes(attributes: ReadonlyMap<string, string>): number {
  let bytes = 0;
  for (const [name, value] of attributes) if (value !== '') bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/** Why an update must not be sent at all, with a stable code; undefined when it can go. */
export interface SingleUpdateProblem {
  code: 'PROFILE_TOO_LARGE' | 'SINGLE_REQUEST_TOO_LARGE';
  message: string;
}

/**
 * Checks an update before any request of it goes out, so it is refused whole rather than
 * landing in part: over 64 KB of profile data by itself (Target would refuse the request
 * that crosses it — the data already stored is unknown here, so this is the least Target
 * can refuse), or an attribute no 60 KB POST can carry.
 */
export function singleUpdateProblem(
  attributes: ReadonlyMap<string, string>,
  plan: readonly SingleRequest[],
): SingleUpdateProblem | undefined {
  const bytes = profileDataBytes(attributes);
  if (bytes > PROFILE_DATA_LIMIT_BYTES) {
    return {
      code: 'PROFILE_TOO_LARGE',
      message: `update carries ${bytes} bytes of profile data, over Target's ${PROFILE_DATA_LIMIT_BYTES}-byte limit per visitor`,
    };
  }
  const oversize = plan.find((req) => req.oversize === true);
  if (oversize !== undefined) {
    const size = oversize.body?.length ?? 0;
    return {
      code: 'SINGLE_REQUEST_TOO_LARGE',
      message: `attribute "${oversize.attributes[0]?.slice(0, 60) ?? ''}" needs a ${size}-byte POST, over the ${SINGLE_POST_LIMIT_BYTES}-byte limit; it cannot be sent by single update`,
    };
  }
  return undefined;
}
