import { describe, expect, it } from 'vitest';
import { pathForMessages } from '../../../src/target/client.js';

describe('the path errors name', () => {
  it('leaves the visitor id of a Fetch Profile call out, and every query', () => {
    expect(pathForMessages('/rest/v1/profiles/thirdPartyId/CRM-SECRET-42?client=acme')).toBe(
      '/rest/v1/profiles/thirdPartyId/…',
    );
    expect(pathForMessages('/rest/v1/profiles/1368007744041-575948.01_00?client=acme')).toBe('/rest/v1/profiles/…');
    expect(pathForMessages('/m2/acme/profile/update?mbox3rdPartyId=CRM-1&profile.tier=gold')).toBe(
      '/m2/acme/profile/update',
    );
    expect(pathForMessages('/m2/acme/v2/profile/batchUpdate')).toBe('/m2/acme/v2/profile/batchUpdate');
  });
});
