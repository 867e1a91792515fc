import type { VisitorRef } from '../events/index.js';

/** Documented size limits of the Single Profile Update API (target-profile-api.md). */
export const SINGLE_GET_LIMIT_BYTES = 8 * 1024;
export const SINGLE_POST_LIMIT_BYTES = 60 * 1024;

/** One HTTP request of a single profile update. */
export interface SingleRequest {
  method: 'GET' | 'POST';
  /** Path and query (GET), or path only (POST). */
  pathAndQuery: string;
  /** Form body for POST. */
  body?: string;
  /** Attribute names this request carries. */
  attributes: string[];
}

/**
 * Plans the requests for one visitor's update: one GET while the request target fits in
 * 8 KB, else form-encoded POSTs of at most 60 KB each. Attributes are never cut: an update
 * too big for one POST is split between attributes into several requests (P8).
 *
 * Encoding: names and values go through encodeURIComponent, so `&`, `=`, `+`, `%`, `#` and
 * any Unicode arrive as the same UTF-8 bytes; nothing a value holds can add a parameter.
 */
export function planSingleUpdate(clientCode: string, visitor: VisitorRef, attributes: ReadonlyMap<string, string>): SingleRequest[] {
  const path = `/m2/${encodeURIComponent(clientCode)}/profile/update`;
  const idParam = `${visitor.kind === 'pcId' ? 'mboxPC' : 'mbox3rdPartyId'}=${encodeURIComponent(visitor.id)}`;
  const params: Array<{ name: string; text: string }> = [];
  for (const [name, value] of attributes) {
    params.push({ name, text: `profile.${encodeURIComponent(name)}=${encodeURIComponent(value)}` });
  }
  const all = [idParam, ...params.map((p) => p.text)].join('&');
  const getTarget = `${path}?${all}`;
  if (Buffer.byteLength(getTarget) <= SINGLE_GET_LIMIT_BYTES) {
    return [{ method: 'GET', pathAndQuery: getTarget, attributes: params.map((p) => p.name) }];
  }
  const budget = SINGLE_POST_LIMIT_BYTES - Buffer.byteLength(path);
  const requests: SingleRequest[] = [];
  let body = idParam;
  let names: string[] = [];
  for (const param of params) {
    const next = `${body}&${param.text}`;
    if (Buffer.byteLength(next) > budget && names.length > 0) {
      requests.push({ method: 'POST', pathAndQuery: path, body, attributes: names });
      body = `${idParam}&${param.text}`;
      names = [param.name];
    } else {
      body = next;
      names.push(param.name);
    }
  }
  if (names.length > 0) requests.push({ method: 'POST', pathAndQuery: path, body, attributes: names });
  return requests;
}
