/**
 * Where to read a bulk batch's status, from the link Target's submit answer names. Pure.
 *
 * What Adobe documents: the answer names the status on another host than the one the batch
 * was posted to, written with `http://`, e.g.
 * `http://mboxedge45.tt.omtrdc.net/m2/<client>/profile/batchStatus?batchId=<id>`, or in an
 * older revision `http://mboxedge19.tt.omtrdc.net/m2/<client>/v2/profile/batchStatus?batchId=<id>&m2Node=00`.
 * What it leaves open: whether plain http is meant, and which hosts a link may name.
 * The choice (docs/target.md):
 * - a link on a `*.tt.omtrdc.net` host is followed over https at that host, path and query
 *   kept as given (the Bearer token never travels in clear text);
 * - with a base URL that is not on `tt.omtrdc.net` (TARGET_BASE_URL pointing at the
 *   simulator or a proxy), such a link is followed at the base URL's origin (and path
 *   prefix), path and query kept, since Target's edge hosts are not reachable from there;
 * - a link on the base URL's own host is followed as it is (a proxy that rewrites links);
 * - any other host is refused: the token is never sent there.
 */

/** The documented domain of Target's edge hosts. */
export const TARGET_EDGE_DOMAIN = 'tt.omtrdc.net';

export type StatusLink = { ok: true; url: string } | { ok: false; reason: string };

function onTargetDomain(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host.endsWith(`.${TARGET_EDGE_DOMAIN}`);
}

/** The URL to read a batch status from, or why the link is refused. */
export function resolveStatusLink(link: string, baseUrl: string): StatusLink {
  let url: URL;
  let base: URL;
  try {
    url = new URL(link);
    base = new URL(baseUrl);
  } catch {
    return { ok: false, reason: 'the batch status link is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { ok: false, reason: `the batch status link uses ${url.protocol}` };
  if (url.username !== '' || url.password !== '')
    return { ok: false, reason: 'the batch status link carries credentials' };
  const pathAndQuery = `${url.pathname}${url.search}`;
  if (onTargetDomain(url.hostname)) {
    if (onTargetDomain(base.hostname))
      return { ok: true, url: `https://${url.host.replace(/:\d+$/, '')}${pathAndQuery}` };
    return { ok: true, url: `${base.origin}${base.pathname.replace(/\/+$/, '')}${pathAndQuery}` };
  }
  if (url.hostname.toLowerCase() === base.hostname.toLowerCase()) {
    return { ok: true, url: `${base.origin}${pathAndQuery}` };
  }
  return { ok: false, reason: `the batch status link names a host outside ${TARGET_EDGE_DOMAIN} (${url.hostname})` };
}

/** The batch id of a status link (for logs and dead letters), or the link's path when it has none. */
export function batchIdOf(statusUrl: string): string {
  try {
    return new URL(statusUrl).searchParams.get('batchId') ?? statusUrl;
  } catch {
    return statusUrl;
  }
}
