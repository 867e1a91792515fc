import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '../../src/intake/producer.js';
import { OPS_ROUTES } from '../../src/ops/routes.js';
import { newRedis } from '../harness/context.js';
import { CHROMIUM, chromiumAvailable, withChromium } from '../harness/chromium.js';
import { waitFor } from '../harness/pipeline.js';
import { ADMIN_TOKEN, READONLY_TOKEN, startOpsServer, type OpsServer } from '../integration/ops/ops-server.js';

const hasChromium = chromiumAvailable('dashboard');

/**
 * The operator's view: headless Chromium logs into bull-board with HTTP Basic (the browser's
 * login dialog, answered by Playwright's httpCredentials), and must see every queue of the
 * pipeline by name, and a till's batch as completed jobs named for what they are. Each browser
 * gets a fresh user-data dir, so no cached login carries over.
 */
describe.skipIf(!hasChromium)(`dashboard in headless Chromium (${CHROMIUM})`, () => {
  let ops: OpsServer;

  beforeAll(async () => {
    ops = await startOpsServer();
  });
  afterAll(async () => {
    await ops.close();
  });

  function withBrowser<T>(
    credentials: { username: string; password: string } | undefined,
    use: (context: BrowserContext) => Promise<T>,
  ): Promise<T> {
    return withChromium(credentials, use);
  }

  /** Opens a board and waits until every queue name is on screen. */
  async function queuesShown(
    context: BrowserContext,
    path: string,
  ): Promise<{ status: number | undefined; names: string[] }> {
    const page = await context.newPage();
    const response = await page.goto(`${ops.url}${path}`);
    const names = Object.values(ops.pipeline.queues).map((q) => q.name);
    if (response?.status() === 200) {
      for (const name of names)
        await page.getByText(name, { exact: true }).first().waitFor({ state: 'visible', timeout: 20_000 });
    }
    return { status: response?.status(), names };
  }

  /**
   * Opens a page the browser may not see. Chromium answers a Basic challenge it cannot meet
   * by aborting the navigation (ERR_INVALID_AUTH_CREDENTIALS) or by showing the 401 page;
   * either way the server's answer was 401 with a Basic challenge, and no queue is on screen.
   */
  async function refused(context: BrowserContext, path: string): Promise<void> {
    const page = await context.newPage();
    const answers: Array<{ status: number; challenge: string | null }> = [];
    page.on('response', (response) => {
      if (response.url() === `${ops.url}${path}`)
        answers.push({ status: response.status(), challenge: response.headers()['www-authenticate'] ?? null });
    });
    const outcome = await page.goto(`${ops.url}${path}`).then(
      (r) => r?.status(),
      (error: Error) => error.message,
    );
    expect(String(outcome)).toMatch(/^401$|ERR_INVALID_AUTH_CREDENTIALS/);
    expect(answers[0]).toEqual({ status: 401, challenge: 'Basic realm="target-ingest", charset="UTF-8"' });
    expect(await page.getByText('dead-letter', { exact: true }).count()).toBe(0);
  }

  it('is refused without credentials, and with wrong ones', async () => {
    await withBrowser(undefined, (context) => refused(context, OPS_ROUTES.dashboard));
    await withBrowser({ username: 'operator', password: 'not-the-admin-token' }, (context) =>
      refused(context, OPS_ROUTES.dashboard),
    );
  });

  it('logs in with ADMIN_TOKEN as password and shows every pipeline queue by name', async () => {
    await withBrowser({ username: 'operator', password: ADMIN_TOKEN }, async (context) => {
      const { status, names } = await queuesShown(context, OPS_ROUTES.dashboard);
      expect(status).toBe(200);
      expect(names).toEqual(expect.arrayContaining(['ingest', 'flush', 'deliver-single', 'dead-letter']));
    });
  });

  it("shows a till's batch as completed jobs named for what they are, and the dead-letter queue without a warning", async () => {
    let written = 0;
    ops.simulator.store.onWrite(() => (written += 1));
    const redis = newRedis(ops.config.REDIS_URL);
    const producer = createProducer({ connection: redis, prefix: ops.prefix, source: 'till-3' });
    try {
      const summary = await producer.sendMany(
        ['CRM-E2E-1', 'CRM-E2E-2'].map((id, i) => ({
          id: `ev-e2e-${i}`,
          type: 'kiosk_visit',
          occurredAt: new Date(Date.now() - 60_000).toISOString(),
          visitor: { mbox3rdPartyId: id },
          data: { kioskId: 'K1' },
        })),
      );
      expect(summary.accepted).toBe(2);
    } finally {
      await producer.close();
      await redis.quit();
    }
    expect(await waitFor(() => written === 2, 20_000)).toBe(true);
    await withBrowser({ username: 'operator', password: ADMIN_TOKEN }, async (context) => {
      const page = await context.newPage();
      const shown = async (queue: string, status: string, text: string | RegExp): Promise<void> => {
        await page.goto(`${ops.url}${OPS_ROUTES.dashboard}/queue/${queue}?status=${status}`);
        await page.getByText(text).first().waitFor({ state: 'visible', timeout: 20_000 });
      };
      await shown('ingest', 'completed', 'events ×2 from till-3');
      await shown('deliver-bulk', 'completed', 'bulk ×2 visitors');
      await shown('dead-letter', 'latest', /no workers by design/);
      // The overview's cards: each queue's counts and workers come in one answer, so with the
      // six cards drawn, a warning on any of them would be drawn too.
      await page.goto(`${ops.url}${OPS_ROUTES.dashboard}`);
      await page
        .getByText(/^\d[\d,]* Jobs?$/)
        .nth(5)
        .waitFor({ state: 'visible', timeout: 20_000 });
      expect(await page.getByText('No workers', { exact: true }).count()).toBe(0);
    });
  });

  it('shows the read-only board to ADMIN_READONLY_TOKEN, and not the full one', async () => {
    await withBrowser({ username: 'viewer', password: READONLY_TOKEN }, async (context) => {
      expect((await queuesShown(context, OPS_ROUTES.readonlyDashboard)).status).toBe(200);
      const full = await (await context.newPage()).goto(`${ops.url}${OPS_ROUTES.dashboard}`);
      expect(full?.status()).toBe(403);
    });
  });
});
