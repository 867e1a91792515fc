/** Content type of every XML answer, as Target sends it. */
export const XML_CONTENT_TYPE = 'application/xml;charset=UTF-8';

// XML 1.0 cannot carry most control characters even as &#..; references, so they become
// U+FFFD rather than producing a document no client can parse.
const NOT_XML_CHAR =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Escapes text for an XML element (ids and messages can hold `<`, `&`, quotes). */
export function escapeXml(text: string): string {
  return text
    .replace(NOT_XML_CHAR, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function element(name: string, value: string | number | boolean): string {
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** The documented Single Profile Update success body. */
export function singleSuccessXml(pcId: string): string {
  return `<response>${element('success', true)}${element('pcId', pcId)}${element('message', 'Request successfully submitted')}</response>`;
}

/**
 * An error body. Adobe documents that errors are XML but not their exact shape; the
 * simulator mirrors the success shape with `success=false` and a specific message.
 */
export function errorXml(message: string): string {
  return `<response>${element('success', false)}${element('message', message)}</response>`;
}

/** The documented bulk acceptance body. */
export function batchAcceptedXml(statusUrl: string): string {
  return `<response>${element('success', true)}${element('batchStatus', statusUrl)}${element('message', 'Batch submitted for processing')}</response>`;
}

/** Everything the batch status endpoint can report. */
export interface BatchStatusView {
  batchId: string;
  status: 'incomplete' | 'complete' | 'stuck';
  batchSize: number;
  consumedCount: number;
  successfulUpdates: number;
  profilesNotFound: number;
  failedUpdates: number;
  /** Ids of failed rows that Target lists (in row order; a row may fail unlisted). */
  failedIds: string[];
}

/**
 * The batch status body; the counters only with `showDetails=true`, as documented. With
 * them, one `<profile><id>ID</id><status>failed</status></profile>` per listed failed row,
 * inside `<response>` after the counters: Adobe's May 2020 release notes say failed profile
 * ids are returned in this shape, without saying where or whether always (the simulator
 * lists them with the details only).
 */
export function batchStatusXml(view: BatchStatusView, showDetails: boolean): string {
  const parts = [
    element('batchId', view.batchId),
    element('status', view.status),
    element('batchSize', view.batchSize),
  ];
  if (showDetails) {
    parts.push(
      element('consumedCount', view.consumedCount),
      element('successfulUpdates', view.successfulUpdates),
      element('profilesNotFound', view.profilesNotFound),
      element('failedUpdates', view.failedUpdates),
    );
    for (const id of view.failedIds)
      parts.push(`<profile>${element('id', id)}${element('status', 'failed')}</profile>`);
  }
  return `<response>${parts.join('')}</response>`;
}
