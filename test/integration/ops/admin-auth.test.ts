import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { credentialFrom, roleFor } from '../../../src/http/admin-auth.js';
import { OPS_ROUTES } from '../../../src/ops/routes.js';
import { ADMIN_TOKEN, READONLY_TOKEN, basic, bearer, startOpsServer, type OpsServer } from './ops-server.js';

describe('admin credentials', () => {
  it('reads Bearer tokens and Basic passwords with any user name', () => {
    expect(credentialFrom(bearer(ADMIN_TOKEN))).toBe(ADMIN_TOKEN);
    expect(credentialFrom(basic(ADMIN_TOKEN, 'anyone'))).toBe(ADMIN_TOKEN);
    expect(credentialFrom(basic(ADMIN_TOKEN, ''))).toBe(ADMIN_TOKEN);
    expect(credentialFrom(basic('', 'anyone'))).toBeUndefined();
    expect(credentialFrom(`Token ${ADMIN_TOKEN}`)).toBeUndefined();
    expect(credentialFrom(undefined)).toBeUndefined();
  });

  it('grants admin, read-only or nothing', () => {
    const tokens = { admin: ADMIN_TOKEN, readonly: READONLY_TOKEN };
    expect(roleFor(ADMIN_TOKEN, tokens)).toBe('admin');
    expect(roleFor(READONLY_TOKEN, tokens)).toBe('readonly');
    expect(roleFor(`${ADMIN_TOKEN}x`, tokens)).toBeUndefined();
    expect(roleFor(ADMIN_TOKEN.slice(0, -1), tokens)).toBeUndefined();
    expect(roleFor(READONLY_TOKEN, { admin: ADMIN_TOKEN })).toBeUndefined();
  });
});

describe('admin token configuration', () => {
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  };

  it('wants a read-only token only next to an admin token, and different from it', () => {
    expect(problems({ ADMIN_READONLY_TOKEN: READONLY_TOKEN })).toEqual([
      'ADMIN_READONLY_TOKEN: needs ADMIN_TOKEN too (admin routes are off without it)',
    ]);
    expect(problems({ ADMIN_TOKEN, ADMIN_READONLY_TOKEN: ADMIN_TOKEN })).toEqual([
      'ADMIN_READONLY_TOKEN: must differ from ADMIN_TOKEN',
    ]);
    const short = problems({ ADMIN_TOKEN, ADMIN_READONLY_TOKEN: 'short-secret' });
    expect(short).toEqual(['ADMIN_READONLY_TOKEN: must be at least 16 characters']);
    expect(short.join(' ')).not.toContain('short-secret');
    expect(loadConfig({ ADMIN_TOKEN, ADMIN_READONLY_TOKEN: READONLY_TOKEN }).ADMIN_READONLY_TOKEN).toBe(READONLY_TOKEN);
  });
});

describe('dashboard access', () => {
  let ops: OpsServer;
  const get = (path: string, authorization?: string) =>
    fetch(`${ops.url}${path}`, { headers: authorization === undefined ? {} : { authorization } });

  beforeAll(async () => {
    ops = await startOpsServer();
  });
  afterAll(async () => {
    await ops.close();
  });

  it('refuses anonymous and wrong credentials with a Basic challenge, assets included', async () => {
    expect(await assetPath(ADMIN_TOKEN)).toMatch(/^\/admin\/queues\/static\//);
    for (const [path, auth] of [
      [OPS_ROUTES.dashboard, undefined],
      [`${OPS_ROUTES.dashboard}/api/queues`, undefined],
      [await assetPath(ADMIN_TOKEN), undefined],
      [OPS_ROUTES.dashboard, bearer('not-the-admin-token-at-all')],
      [OPS_ROUTES.dashboard, basic('not-the-admin-token-at-all')],
      [OPS_ROUTES.readonlyDashboard, undefined],
      [`${OPS_ROUTES.readonlyDashboard}/api/queues`, basic('wrong')],
    ] as const) {
      const response = await get(path, auth);
      expect(response.status, `${path} ${auth ?? '(none)'}`).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Basic realm="target-ingest", charset="UTF-8"');
      const body = await response.text();
      expect(body).toMatch(/admin credentials required/);
      expect(body).not.toContain(ADMIN_TOKEN);
    }
  });

  it('lets ADMIN_TOKEN in as Bearer or as Basic password, and lists every pipeline queue', async () => {
    for (const auth of [bearer(ADMIN_TOKEN), basic(ADMIN_TOKEN), basic(ADMIN_TOKEN, 'someone-else')]) {
      const page = await get(OPS_ROUTES.dashboard, auth);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
    }
    const asset = await get(await assetPath(ADMIN_TOKEN), basic(ADMIN_TOKEN));
    expect(asset.status).toBe(200);
    expect((await asset.text()).length).toBeGreaterThan(1000);
    const api = await get(`${OPS_ROUTES.dashboard}/api/queues`, basic(ADMIN_TOKEN));
    expect(api.status).toBe(200);
    const { queues } = (await api.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    const expected = Object.values(ops.pipeline.queues)
      .map((q) => q.name)
      .sort();
    expect(expected).toContain('dead-letter');
    expect(queues.map((q) => q.name).sort()).toEqual(expected);
    expect(queues.every((q) => !q.readOnlyMode)).toBe(true);
  });

  it('shows job data with card numbers, agent ids and tokens redacted', async () => {
    const card = '4111111111111111';
    await ops.pipeline.queues.deadLetter.add('map', {
      stage: 'map',
      source: 'pos-eu',
      events: [
        { id: 'pos-9', type: 'loyalty_card_used', data: { storeId: 'S9', cardId: card, note: `card ${card}` } },
        { id: 'cc-9', data: { agentId: 'AGENT-0099' } },
      ],
      error: { class: 'ValidationError', code: 'EVENT_INVALID', message: `bad: ${ADMIN_TOKEN}` },
      attempts: 1,
      firstAttemptAt: 1,
      lastAttemptAt: 1,
    });
    for (const base of [OPS_ROUTES.dashboard, OPS_ROUTES.readonlyDashboard]) {
      const api = await get(
        `${base}/api/queues?activeQueue=dead-letter&status=latest&page=1&jobsPerPage=10`,
        bearer(ADMIN_TOKEN),
      );
      const body = await api.text();
      expect(body).toContain('pos-9');
      expect(body).toContain('[redacted]');
      for (const secret of [card, 'AGENT-0099', ADMIN_TOKEN]) expect(body, base).not.toContain(secret);
    }
    await ops.pipeline.queues.deadLetter.obliterate({ force: true });
  });

  it('lets an admin change things on the full board', async () => {
    const pause = await fetch(`${ops.url}${OPS_ROUTES.dashboard}/api/queues/dead-letter/pause`, {
      method: 'PUT',
      headers: { authorization: bearer(ADMIN_TOKEN) },
    });
    expect(pause.status).toBe(200);
    await pause.text();
    expect(await ops.pipeline.queues.deadLetter.isPaused()).toBe(true);
    await ops.pipeline.queues.deadLetter.resume();
  });

  it('gives ADMIN_READONLY_TOKEN the read-only board only, where nothing can be changed', async () => {
    const full = await get(OPS_ROUTES.dashboard, basic(READONLY_TOKEN));
    expect(full.status).toBe(403);
    expect(await full.text()).toContain(OPS_ROUTES.readonlyDashboard);

    for (const token of [READONLY_TOKEN, ADMIN_TOKEN]) {
      const page = await get(OPS_ROUTES.readonlyDashboard, basic(token));
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<html/i);
      const api = await get(`${OPS_ROUTES.readonlyDashboard}/api/queues`, bearer(token));
      const { queues } = (await api.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
      expect(queues.length).toBe(Object.keys(ops.pipeline.queues).length);
      expect(queues.every((q) => q.readOnlyMode)).toBe(true);
    }
    const asset = await get(await assetPath(READONLY_TOKEN, OPS_ROUTES.readonlyDashboard), basic(READONLY_TOKEN));
    expect(asset.status).toBe(200);
    await asset.arrayBuffer();

    for (const token of [READONLY_TOKEN, ADMIN_TOKEN]) {
      const pause = await fetch(`${ops.url}${OPS_ROUTES.readonlyDashboard}/api/queues/ingest/pause`, {
        method: 'PUT',
        headers: { authorization: bearer(token) },
      });
      expect(pause.status).toBe(403);
      expect(await pause.text()).toMatch(/read-only/);
    }
    expect(await ops.pipeline.queues.ingest.isPaused()).toBe(false);
  });

  /** The first script the dashboard page loads, fetched with credentials. */
  async function assetPath(token: string, base: string = OPS_ROUTES.dashboard): Promise<string> {
    const html = await (await get(base, bearer(token))).text();
    const src = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
    if (src === undefined) throw new Error(`no script in the dashboard page:\n${html.slice(0, 500)}`);
    return src.startsWith('/') ? src : `${base}/${src}`;
  }
});

describe('dashboard without ADMIN_TOKEN', () => {
  let ops: OpsServer;

  beforeAll(async () => {
    ops = await startOpsServer({ env: { ADMIN_TOKEN: '', ADMIN_READONLY_TOKEN: '' } });
  });
  afterAll(async () => {
    await ops.close();
  });

  it('is switched off, never open, and says how to turn it on', async () => {
    for (const path of [
      OPS_ROUTES.dashboard,
      `${OPS_ROUTES.dashboard}/`,
      `${OPS_ROUTES.dashboard}/api/queues`,
      `${OPS_ROUTES.dashboard}/static/js/main.js`,
      OPS_ROUTES.readonlyDashboard,
    ]) {
      const response = await fetch(`${ops.url}${path}`, { headers: { authorization: bearer(ADMIN_TOKEN) } });
      expect(response.status, path).toBe(404);
      expect(await response.text()).toMatch(/admin routes are disabled: set ADMIN_TOKEN/);
    }
    const put = await fetch(`${ops.url}${OPS_ROUTES.dashboard}/api/queues/ingest/pause`, { method: 'PUT' });
    expect(put.status).toBe(404);
  });
});
