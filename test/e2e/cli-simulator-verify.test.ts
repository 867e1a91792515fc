import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { freePort } from '../harness/redis-server.js';
import { runBuilt } from '../harness/spawn-process.js';

describe('target-ingest simulator and verify (built CLI)', () => {
  it('runs the simulator stand-alone with faults from its flag, steers it over /_simulator, and verify reads a profile', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // `--single-creates all`: this test makes its profile with a single update.
    const sim = runBuilt('src/cli.js', {}, [
      'simulator',
      '--port',
      String(port),
      '--client-code',
      'acme',
      '--single-creates',
      'all',
      '--faults',
      '{"failNext":{"count":1,"status":503}}',
    ]);
    try {
      await sim.waitForLine(/listening at/);
      const update = `${base}/m2/acme/profile/update?mbox3rdPartyId=CRM-V&profile.tier=gold%20%26%20more`;
      expect((await request(update)).statusCode).toBe(503);
      const ok = await request(update);
      expect(ok.statusCode).toBe(200);
      await ok.body.dump();

      const faults = await request(`${base}/_simulator/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ errorRate: { probability: 1, status: 502 } }),
      });
      expect(faults.statusCode).toBe(200);
      await faults.body.dump();
      expect((await request(update)).statusCode).toBe(502);
      const bad = await request(`${base}/_simulator/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ errorRate: { probability: 2 } }),
      });
      expect(bad.statusCode).toBe(400);
      expect(JSON.stringify(await bad.body.json())).toContain('errorRate.probability');
      await (await request(`${base}/_simulator/reset`, { method: 'POST' })).body.dump();
      const stats = await request(`${base}/_simulator/stats`);
      expect(await stats.body.json()).toMatchObject({ single: 0, profiles: 1 });

      const env = { TARGET_CLIENT_CODE: 'acme', TARGET_BASE_URL: base };
      const verify = runBuilt('src/cli.js', env, ['verify', 'mbox3rdPartyId:CRM-V']);
      expect(await verify.exited).toBe(0);
      const table = verify.lines.join('\n');
      expect(table).toMatch(/^attribute\s+modified\s+value/m);
      expect(table).toMatch(/^tier\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+gold & more$/m);

      const missing = runBuilt('src/cli.js', env, ['verify', 'mbox3rdPartyId:NOBODY']);
      expect(await missing.exited).toBe(1);
      expect(missing.lines.join('\n')).toMatch(/no profile for mbox3rdPartyId NOBODY/);
    } finally {
      sim.kill('SIGTERM');
      await sim.exited;
    }
  });

  it('by default, like Target, drops a single update for an unknown mbox3rdPartyId and keeps mboxPC profiles', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const sim = runBuilt('src/cli.js', {}, ['simulator', '--port', String(port), '--client-code', 'acme']);
    try {
      await sim.waitForLine(/listening at/);
      for (const visitor of ['mbox3rdPartyId=CRM-UNKNOWN', 'mboxPC=1368007744041-575948.01_00']) {
        const answer = await request(`${base}/m2/acme/profile/update?${visitor}&profile.tier=gold`);
        expect(answer.statusCode).toBe(200);
        expect(await answer.body.text()).toContain('<success>true</success>');
      }
      expect(await (await request(`${base}/_simulator/stats`)).body.json()).toMatchObject({ single: 2, profiles: 1 });
      const thirdParty = await request(`${base}/rest/v1/profiles/thirdPartyId/CRM-UNKNOWN?client=acme`);
      expect(thirdParty.statusCode).toBe(404);
      await thirdParty.body.dump();
    } finally {
      sim.kill('SIGTERM');
      await sim.exited;
    }
  });
});
