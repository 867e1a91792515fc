import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Overview } from '../../src/console/overview.js';
import { LIST_SCAN_MAX } from '../../src/dlq/admin.js';
import type { DeadLetter } from '../../src/jobs/catalog.js';
import { KIOSK_KEY, kioskVisit, startIntakeServer, type IntakeServer } from '../harness/intake-server.js';
import { CHROMIUM, chromiumAvailable, withChromium } from '../harness/chromium.js';
import { waitFor } from '../harness/pipeline.js';

const hasChromium = chromiumAvailable('console');

/**
 * With UPDATE_SCREENSHOTS=1 the test writes the screenshots docs/operations.md shows
 * ("Pipeline console"); without it (CI) it takes them in memory only, so the tree stays clean.
 */
const SCREENSHOTS =
  process.env.UPDATE_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../docs/images') : undefined;

const ADMIN = 'admin-token-console-e2e-0123';
const READONLY = 'readonly-token-console-e2e-01';
const CUSTOMER = 'CRM-88412';
const REFUSED = 'CRM-10077';
const MINUTE = 60_000;

function cardUsed(visitor: string, id: string, minutesAgo: number, storeId: string, tier = 'gold') {
  return {
    id,
    type: 'loyalty_card_used',
    occurredAt: new Date(Date.now() - minutesAgo * MINUTE).toISOString(),
    visitor: { mbox3rdPartyId: visitor },
    data: { storeId, points: 25, tier, cardId: '4111111111111111' },
  };
}

/**
 * A support agent's and an operator's view: the pipeline and the Target simulator run, a
 * till sends a customer's events over HTTP, and headless Chromium logs into /admin with
 * HTTP Basic (the browser's login dialog, answered by Playwright's httpCredentials). The
 * console shows the flow, finds the customer and its delivery (route, Target's answer),
 * the event's fate, and the dead letters by group; only ADMIN_TOKEN gets a Replay button.
 */
describe.skipIf(!hasChromium)(`pipeline console in headless Chromium (${CHROMIUM})`, () => {
  let server: IntakeServer;

  beforeAll(async () => {
    server = await startIntakeServer({
      roles: ['map', 'flusher', 'deliver'],
      env: { DELIVERY_MODE: 'single', ADMIN_TOKEN: ADMIN, ADMIN_READONLY_TOKEN: READONLY, DELIVERY_MAX_ATTEMPTS: '1' },
    });
    const { simulator } = server.running;
    simulator.faults.rejectVisitor(REFUSED, 400);
    const first = await server.post([
      cardUsed(CUSTOMER, 'till7-000121', 14, 'S-104', 'silver'),
      cardUsed(CUSTOMER, 'till7-000123', 9, 'S-117'),
      cardUsed('CRM-20931', 'till7-000124', 8, 'S-117'),
      cardUsed('CRM-55120', 'till7-000125', 7, 'S-104'),
      cardUsed(REFUSED, 'till7-000126', 6, 'S-104'),
      { id: 'till7-000127', type: 'loyalty_card_used', visitor: { mbox3rdPartyId: 'CRM-1' } },
    ]);
    expect(first.body).toMatchObject({ accepted: 5 });
    const kiosk = await server.post([kioskVisit('kiosk-5501', 'CRM-30470', 'K-12')], { key: KIOSK_KEY });
    expect(kiosk.body).toMatchObject({ accepted: 1 });
    // Everything delivered or dead-lettered, and counted, before a browser looks.
    expect(
      await waitFor(async () => {
        const o = await overviewJson();
        const count = (name: string) => o.flow.find((s) => s.name === name)?.count;
        return count('delivered') === 4 && count('dead_lettered') === 1;
      }, 20_000),
    ).toBe(true);
  });
  afterAll(async () => {
    await server.close();
  });

  async function overviewJson(): Promise<Overview> {
    const answer = await request(`${server.url}/admin/api/overview`, { headers: { authorization: `Bearer ${ADMIN}` } });
    return (await answer.body.json()) as Overview;
  }

  function withBrowser<T>(
    credentials: { username: string; password: string } | undefined,
    use: (context: BrowserContext) => Promise<T>,
  ): Promise<T> {
    return withChromium(credentials, use, { width: 1360, height: 860 });
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    const image = await page.screenshot({ fullPage: true });
    expect(image.length).toBeGreaterThan(10_000);
    if (SCREENSHOTS === undefined) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ fullPage: true, path: join(SCREENSHOTS, `console-${name}.png`) });
  }

  const flowCount = (page: Page, stage: string) => page.locator(`[data-flow="${stage}"] .count`).textContent();

  it('is refused without credentials, with a Basic challenge', async () => {
    await withBrowser(undefined, async (context) => {
      const page = await context.newPage();
      const challenges: Array<string | undefined> = [];
      page.on('response', (response) => {
        if (response.url() === `${server.url}/admin`) challenges.push(response.headers()['www-authenticate']);
      });
      const outcome = await page.goto(`${server.url}/admin`).then(
        (r) => r?.status(),
        (error: Error) => error.message,
      );
      expect(String(outcome)).toMatch(/^401$|ERR_INVALID_AUTH_CREDENTIALS/);
      expect(challenges[0]).toBe('Basic realm="target-ingest", charset="UTF-8"');
      expect(await page.locator('[data-flow]').count()).toBe(0);
    });
  });

  it('logs in, shows the flow, finds the customer and its delivery, the event, and replays a dead letter', async () => {
    await withBrowser({ username: 'operator', password: ADMIN }, async (context) => {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      expect((await page.goto(`${server.url}/admin`))?.status()).toBe(200);
      await page.locator('[data-flow="delivered"] .count').filter({ hasText: '4' }).waitFor({ timeout: 15_000 });
      expect(await flowCount(page, 'received')).toBe('7');
      expect(await flowCount(page, 'rejected')).toBe('1');
      // Of the 6 accepted, the customer's older event of the same batch is superseded, not merged.
      expect(await flowCount(page, 'merged')).toBe('5');
      expect(await flowCount(page, 'dead_lettered')).toBe('1');
      await expect.poll(() => page.locator('#role').textContent()).toBe('admin');
      expect(await page.locator('[data-sources]').textContent()).toMatch(/kiosk.*pos-eu/);
      expect(await page.locator('[data-access="ok"]').count()).toBe(1);
      expect(await page.locator('#board').getAttribute('href')).toBe('/admin/queues');
      await screenshot(page, 'overview');

      await page.getByRole('link', { name: 'Search' }).click();
      await page.locator('#search-kind').selectOption('mbox3rdPartyId');
      await page.locator('#search-id').fill(CUSTOMER);
      await page.getByRole('button', { name: 'Search' }).click();
      const visitor = page.locator('[data-result="visitor"]');
      await visitor.waitFor({ timeout: 10_000 });
      const delivery = visitor.locator('table.deliveries tbody tr').first();
      expect(await delivery.locator('[data-route]').textContent()).toBe('single');
      expect(await delivery.locator('[data-answer]').textContent()).toBe('accepted');
      expect(await delivery.textContent()).toContain('till7-000123');
      expect(await visitor.textContent()).toContain('S-117');
      // The private card number never reaches the page.
      expect(await page.content()).not.toContain('4111');
      await screenshot(page, 'visitor');

      await page.locator('#search-kind').selectOption('event');
      await page.locator('#search-source').fill('pos-eu');
      await page.locator('#search-id').fill('till7-000121');
      await page.getByRole('button', { name: 'Search' }).click();
      const event = page.locator('[data-result="event"]');
      await event.waitFor({ timeout: 10_000 });
      expect(await event.textContent()).toContain('replaced');
      expect(await event.locator('[data-answer]').textContent()).toBe('accepted');
      await screenshot(page, 'event');

      await page.getByRole('link', { name: 'Dead letters' }).click();
      const group = page.locator('[data-dead-letter-groups] tbody tr');
      await group.first().waitFor({ timeout: 10_000 });
      expect(await group.count()).toBe(1);
      expect(await group.first().textContent()).toContain('TARGET_HTTP_400');
      // The newest entries name the visitor Target refused, linked to its search.
      const newest = page.locator('[data-dead-letters-newest] tbody tr');
      await newest.first().waitFor({ timeout: 10_000 });
      expect(await newest.first().getByRole('link', { name: REFUSED }).getAttribute('href')).toBe(
        `#search/visitor/mbox3rdPartyId/${REFUSED}`,
      );
      await screenshot(page, 'dead-letters');

      // Target takes the visitor now: replay it (the page asks first; the test says yes).
      server.running.simulator.faults.restore();
      page.once('dialog', (dialog) => void dialog.accept());
      await page.locator('[data-replay="deliver-single/TARGET_HTTP_400"]').click();
      await page.locator('#notice').filter({ hasText: 'Replayed 1 of 1' }).waitFor({ timeout: 10_000 });
      expect(
        await waitFor(
          () => server.running.simulator.store.get('thirdPartyId', REFUSED)?.loyaltyLastStoreId === 'S-104',
          15_000,
        ),
      ).toBe(true);
      expect(errors).toEqual([]);
    });
  });

  it('shows the read-only token everything but the Replay button, and the server refuses its replay', async () => {
    // A dead letter to look at: Target refuses this visitor again.
    server.running.simulator.faults.rejectVisitor('CRM-10078', 400);
    await server.post([cardUsed('CRM-10078', 'till7-000130', 1, 'S-104')]);
    expect(await waitFor(async () => (await overviewJson()).deadLetters.queued === 1, 15_000)).toBe(true);
    await withBrowser({ username: 'viewer', password: READONLY }, async (context) => {
      const page = await context.newPage();
      expect((await page.goto(`${server.url}/admin#dead-letters`))?.status()).toBe(200);
      await page.locator('[data-dead-letter-groups] tbody tr').first().waitFor({ timeout: 10_000 });
      expect(await page.locator('#role').textContent()).toBe('read-only');
      expect(await page.locator('[data-replay]').count()).toBe(0);
      expect(await page.locator('#board').getAttribute('href')).toBe('/admin/queues-readonly');
      const status = await page.evaluate(async () => {
        const answer = await fetch('/admin/dead-letters/replay', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ all: true }),
        });
        return answer.status;
      });
      expect(status).toBe(403);
      expect((await overviewJson()).deadLetters.queued).toBe(1);
    });
  });
  it("tells the agent when the customer's older dead letters were not searched, with the command that goes on", async () => {
    // More dead letters of other visitors than a search reads: the customer's page cannot say
    // "none" for certain, and says how to look further.
    const letter = (n: number): DeadLetter => ({
      stage: 'deliver-single',
      source: 'pos-eu',
      visitors: [
        { vk: `3p:CRM-OTHER-${n}`, attributes: { tier: { value: 'gold', stamp: `000${1_700_000_000_000 + n}|x` } } },
      ],
      error: { class: 'TargetRejectedError', code: 'TARGET_HTTP_400', message: 'rejected' },
      attempts: 1,
      firstAttemptAt: 1_700_000_000_000,
      lastAttemptAt: 1_700_000_000_000,
    });
    const queued = (await overviewJson()).deadLetters.queued;
    await server.running.pipeline.queues.deadLetter.addBulk(
      Array.from({ length: LIST_SCAN_MAX + 10 }, (_, n) => ({ name: 'deliver-single', data: letter(n) })),
    );
    await withBrowser({ username: 'viewer', password: READONLY }, async (context) => {
      const page = await context.newPage();
      expect((await page.goto(`${server.url}/admin#search/visitor/mbox3rdPartyId/${CUSTOMER}`))?.status()).toBe(200);
      const note = page.locator('[data-result="visitor"] [data-dead-letters-searched]');
      await note.waitFor({ timeout: 10_000 });
      expect(await note.textContent()).toContain(
        `Only the newest 2,000 of ${(queued + LIST_SCAN_MAX + 10).toLocaleString('en-US')} dead letters were searched`,
      );
      expect(await note.locator('.mono').textContent()).toMatch(
        new RegExp(`^target-ingest dlq list --visitor mbox3rdPartyId:${CUSTOMER} --cursor \\S+$`),
      );
    });
  });
});
