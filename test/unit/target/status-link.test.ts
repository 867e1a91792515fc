import { describe, expect, it } from 'vitest';
import { parseBatchStatus } from '../../../src/target/client.js';
import { resolveStatusLink } from '../../../src/target/status-link.js';

const EDGE = 'http://mboxedge45.tt.omtrdc.net/m2/acme/profile/batchStatus?batchId=acme-1-2';
const LEGACY = 'http://mboxedge19.tt.omtrdc.net/m2/acme/v2/profile/batchStatus?batchId=acme-1-2&m2Node=00';

describe('resolveStatusLink', () => {
  it('follows an mboxedge link over https at its own host, path and query kept, when the base is Target', () => {
    expect(resolveStatusLink(EDGE, 'https://acme.tt.omtrdc.net')).toEqual({
      ok: true,
      url: 'https://mboxedge45.tt.omtrdc.net/m2/acme/profile/batchStatus?batchId=acme-1-2',
    });
    expect(resolveStatusLink(LEGACY, 'https://acme.tt.omtrdc.net')).toEqual({
      ok: true,
      url: 'https://mboxedge19.tt.omtrdc.net/m2/acme/v2/profile/batchStatus?batchId=acme-1-2&m2Node=00',
    });
    // A port in the link is dropped with the scheme: https goes to 443.
    expect(
      resolveStatusLink(
        'http://mboxedge45.tt.omtrdc.net:80/m2/acme/profile/batchStatus?batchId=1',
        'https://acme.tt.omtrdc.net',
      ),
    ).toEqual({ ok: true, url: 'https://mboxedge45.tt.omtrdc.net/m2/acme/profile/batchStatus?batchId=1' });
  });

  it('follows an mboxedge link at a TARGET_BASE_URL override (simulator, proxy), path prefix included', () => {
    expect(resolveStatusLink(EDGE, 'http://127.0.0.1:8090')).toEqual({
      ok: true,
      url: 'http://127.0.0.1:8090/m2/acme/profile/batchStatus?batchId=acme-1-2',
    });
    expect(resolveStatusLink(LEGACY, 'https://proxy.bank.example/target/')).toEqual({
      ok: true,
      url: 'https://proxy.bank.example/target/m2/acme/v2/profile/batchStatus?batchId=acme-1-2&m2Node=00',
    });
  });

  it('follows a link on the base URL host at the base origin', () => {
    expect(
      resolveStatusLink('http://127.0.0.1:8090/m2/acme/profile/batchStatus?batchId=9', 'http://127.0.0.1:8090'),
    ).toEqual({ ok: true, url: 'http://127.0.0.1:8090/m2/acme/profile/batchStatus?batchId=9' });
  });

  it('refuses every other host, look-alikes and odd schemes included', () => {
    for (const link of [
      'https://attacker.example/m2/acme/profile/batchStatus?batchId=1',
      'https://tt.omtrdc.net.attacker.example/m2/acme/profile/batchStatus?batchId=1',
      'https://eviltt.omtrdc.net/x',
      'ftp://mboxedge45.tt.omtrdc.net/x',
      'https://user:pw@mboxedge45.tt.omtrdc.net/x',
      'not a url',
    ]) {
      expect(resolveStatusLink(link, 'https://acme.tt.omtrdc.net').ok, link).toBe(false);
    }
  });
});

describe('parseBatchStatus', () => {
  it('reads the documented fields and the failed rows Target lists', () => {
    const body =
      '<response><batchId>b-1</batchId><status>complete</status><batchSize>3</batchSize><consumedCount>3</consumedCount>' +
      '<successfulUpdates>1</successfulUpdates><profilesNotFound>0</profilesNotFound><failedUpdates>2</failedUpdates>' +
      '<profile><id>CRM-1</id><status>failed</status></profile><profile><id>a&amp;b</id><status>failed</status></profile></response>';
    expect(parseBatchStatus(body)).toEqual({
      status: 'complete',
      batchSize: 3,
      consumedCount: 3,
      successfulUpdates: 1,
      profilesNotFound: 0,
      failedUpdates: 2,
      failedIds: ['CRM-1', 'a&b'],
    });
  });

  it('reads one listed row, and none', () => {
    expect(
      parseBatchStatus(
        '<response><status>complete</status><profile><id>007</id><status>failed</status></profile></response>',
      ).failedIds,
    ).toEqual(['007']);
    expect(parseBatchStatus('<response><status>incomplete</status></response>')).toMatchObject({
      status: 'incomplete',
      failedIds: [],
    });
    expect(parseBatchStatus('garbage')).toMatchObject({ status: 'unknown', failedIds: [] });
  });
});
