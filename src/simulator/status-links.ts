/**
 * The `<batchStatus>` link of a bulk submit answer.
 *
 * What Adobe documents: the link names **another host** than the one the batch was sent
 * to, an edge node `mboxedgeNN.tt.omtrdc.net`, written with plain `http://`. Two shapes
 * appear in Adobe's documentation:
 * - current: `http://mboxedge45.tt.omtrdc.net/m2/<client>/profile/batchStatus?batchId=<id>`;
 * - older revision: `http://mboxedge19.tt.omtrdc.net/m2/<client>/v2/profile/batchStatus?batchId=<id>&m2Node=00`.
 *
 * What it leaves open: which edge number a given account gets, and whether `m2Node` means
 * anything to a client. What the simulator does: by default (`'edge'`) it writes the
 * current shape, so a client that followed the link as given (wrong host, no TLS, token sent
 * off to a host it should not trust) fails here as it would against Target; a client must
 * take the link's path and query and send them to its own Target base URL. `'edge-legacy'`
 * writes the older shape. `'self'` writes the simulator's own base URL (a link that can be
 * followed as is: for tools such as curl in the demo, never for the pipeline's tests).
 * The status endpoint answers on both paths and ignores `m2Node`.
 */

/** Host of the current documented status link. */
export const EDGE_STATUS_HOST = 'mboxedge45.tt.omtrdc.net';

/** Host of the older documented status link (with `/v2` and `&m2Node=00`). */
export const EDGE_LEGACY_STATUS_HOST = 'mboxedge19.tt.omtrdc.net';

/** Which link a submit answer carries: see the module comment. */
export type StatusLinkStyle = 'edge' | 'edge-legacy' | 'self';

/** The values {@link StatusLinkStyle} can take (for option parsing). */
export const STATUS_LINK_STYLES: readonly StatusLinkStyle[] = ['edge', 'edge-legacy', 'self'];

/** The two paths the batch status endpoint answers on (Fastify patterns). */
export const BATCH_STATUS_PATHS = ['/m2/:client/profile/batchStatus', '/m2/:client/v2/profile/batchStatus'] as const;

/** Builds the status link of one batch. `publicUrl` is used by `'self'` only. */
export function batchStatusLink(
  style: StatusLinkStyle,
  clientCode: string,
  batchId: string,
  publicUrl: string,
): string {
  const client = encodeURIComponent(clientCode);
  const id = encodeURIComponent(batchId);
  switch (style) {
    case 'edge':
      return `http://${EDGE_STATUS_HOST}/m2/${client}/profile/batchStatus?batchId=${id}`;
    case 'edge-legacy':
      return `http://${EDGE_LEGACY_STATUS_HOST}/m2/${client}/v2/profile/batchStatus?batchId=${id}&m2Node=00`;
    case 'self':
      return `${publicUrl}/m2/${client}/profile/batchStatus?batchId=${id}`;
  }
}
