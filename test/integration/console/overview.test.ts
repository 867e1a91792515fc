import Fastify from 'fastify';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FlowCounter, readFlow } from '../../../src/console/flow-counter.js';
import type { Overview } from '../../../src/console/overview.js';
import { consoleRoutes } from '../../../src/console/routes.js';
import type { HttpContext } from '../../../src/http-context.js';
import { createLogger } from '../../../src/logger.js';
import { deletePrefix, newRedis, uniquePrefix } from '../../harness/context.js';
import { startIntakeServer, type IntakeServer } from '../../harness/intake-server.js';
import { waitFor } from '../../harness/pipeline.js';

const ADMIN = 'admin-token-console-0123456789';
const READONLY = 'readonly-token-console-0123456789';
const CUSTOMER = 'CRM-88412';
const REFUSED = 'CRM-REFUSED-7';
const BASE = Date.UTC(2026, 10, 20, 12);
const CHALLENGE = 'Basic realm="target-ingest", charset="UTF-8"';

function cardUsed(visitor: string, id: string, at: number, storeId: string): Record<string, unknown> {
  return {
    id,
    type: 'loyalty_card_used',
    occurredAt: new Date(at).toISOString(),
    visitor: { mbox3rdPartyId: visitor },
    data: { storeId, points: 10, cardId: '4111111111111111' },
  };
}

const basic = (token: string) => `Basic ${Buffer.from(`operator:${token}`).toString('base64')}`;

describe('pipeline console over HTTP', () => {
  let server: IntakeServer;
  const call = async (path: string, authorization?: string, body?: unknown) => {
    const answer = await request(`${server.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        ...(authorization === undefined ? {} : { authorization }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await answer.body.text();
    return { status: answer.statusCode, headers: answer.headers, text };
  };
  const overview = async (token = READONLY): Promise<Overview> => {
    const answer = await call('/admin/api/overview', basic(token));
    expect(answer.status).toBe(200);
    return JSON.parse(answer.text) as Overview;
  };
  const stage = (o: Overview, name: string) => o.flow.find((s) => s.name === name)?.count;

  beforeAll(async () => {
    server = await startIntakeServer({
      roles: ['map', 'flusher', 'deliver'],
      env: { DELIVERY_MODE: 'single', ADMIN_TOKEN: ADMIN, ADMIN_READONLY_TOKEN: READONLY, DELIVERY_MAX_ATTEMPTS: '1' },
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it('asks for a login (Basic) without credentials or with wrong ones: page, scripts and overview alike', async () => {
    for (const path of ['/admin', '/admin/console.js', '/admin/dom.js', '/admin/console.css', '/admin/api/overview']) {
      for (const auth of [undefined, basic('not-a-token-of-this-pipeline')]) {
        const answer = await call(path, auth);
        expect(answer.status, path).toBe(401);
        expect(answer.headers['www-authenticate']).toBe(CHALLENGE);
        expect(answer.text).not.toContain('pipeline console');
      }
    }
  });

  it('serves the page to either token, allowed to run only its own script and never framed', async () => {
    for (const token of [READONLY, ADMIN]) {
      const page = await call('/admin', basic(token));
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.text).toContain('pipeline console');
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      const script = await call('/admin/console.js', basic(token));
      expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
      expect(script.text).toContain('/admin/api/overview');
    }
  });

  it('shows the flow, each source and dead letters by stage and code; only ADMIN_TOKEN replays them', async () => {
    const { simulator } = server.running;
    simulator.faults.rejectVisitor(REFUSED, 400);
    const answer = await server.post([
      cardUsed(CUSTOMER, 'e-1', BASE, 'S1'),
      cardUsed(CUSTOMER, 'e-2', BASE + 60_000, 'S2'),
      cardUsed(REFUSED, 'r-1', BASE, 'S9'),
      { id: 'bad-1', type: 'loyalty_card_used' },
    ]);
    expect(answer.body).toMatchObject({ accepted: 3, duplicates: 0 });
    expect(answer.body.rejected).toHaveLength(1);
    const landed = () => simulator.store.get('thirdPartyId', CUSTOMER)?.loyaltyLastStoreId === 'S2';
    expect(await waitFor(landed, 15_000)).toBe(true);

    // Counts reach Redis within a second of the work (one write a second per process).
    let o = await overview();
    expect(
      await waitFor(async () => {
        o = await overview();
        return stage(o, 'delivered') === 1 && stage(o, 'dead_lettered') === 1;
      }, 15_000),
    ).toBe(true);
    expect(o.role).toBe('readonly');
    expect(o.board).toBe('/admin/queues-readonly');
    // e-1 and e-2 came in one batch: the merge applies e-2 and calls e-1 superseded.
    expect(Object.fromEntries(o.flow.map((s) => [s.name, s.count]))).toEqual({
      received: 4,
      rejected: 1,
      merged: 2,
      pending: 0,
      in_flight: 0,
      delivered: 1,
      dead_lettered: 1,
    });
    expect(o.flow.find((s) => s.name === 'received')?.perMinute).toBeGreaterThan(0);
    expect(o.merge).toMatchObject({ applied: 2, superseded: 1 });
    expect(o.sources.map((s) => s.source)).toEqual(['pos-eu']);
    expect(Date.parse(o.sources[0]?.lastEventAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
    expect(o.target.access).toEqual({ state: 'ok' });
    expect(o.budgets.map((b) => b.name)).toEqual(['single', 'bulk']);
    expect(o.budgets.find((b) => b.name === 'single')?.used).toBeGreaterThanOrEqual(2);
    expect(o.deadLetters).toMatchObject({ queued: 1, scanned: 1 });
    expect(o.deadLetters.groups).toEqual([
      expect.objectContaining({ stage: 'deliver-single', code: 'TARGET_HTTP_400', entries: 1, items: 1 }),
    ]);
    // Nothing of the events themselves (no value, no private field), and no field of the
    // overview is named like a secret (the redaction policy would mask it).
    expect(JSON.stringify(o)).not.toContain('[redacted]');
    // The card number, whole or by its issuer prefix (what a partly masked one keeps at the
    // front). Not '4111' alone: four digits also turn up by chance in numbers such as Redis's
    // `usedBytes` (a full run failed on that once).
    expect(JSON.stringify(o)).not.toContain('4111111111111111');
    expect(JSON.stringify(o)).not.toMatch(/\b411111/);
    expect(JSON.stringify(o)).not.toContain('S2');

    const filter = { filter: { stage: 'deliver-single', code: 'TARGET_HTTP_400' } };
    const refused = await call('/admin/dead-letters/replay', basic(READONLY), filter);
    expect(refused.status).toBe(403);
    expect((await overview()).deadLetters.queued).toBe(1);

    simulator.faults.restore();
    expect((await overview(ADMIN)).board).toBe('/admin/queues');
    const replayed = await call('/admin/dead-letters/replay', basic(ADMIN), filter);
    expect(replayed.status).toBe(200);
    expect(JSON.parse(replayed.text)).toMatchObject({ matched: 1, done: 1 });
    expect(await waitFor(() => simulator.store.get('thirdPartyId', REFUSED)?.loyaltyLastStoreId === 'S9', 15_000)).toBe(
      true,
    );
    expect(await waitFor(async () => stage(await overview(), 'delivered') === 2, 10_000)).toBe(true);
    expect((await overview()).deadLetters).toMatchObject({ queued: 0, groups: [] });
  });
});

describe('pipeline console: the oldest pending visitor', () => {
  let server: IntakeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('names the visitor pending longest, with when its values were received', async () => {
    // No flusher: merged values stay pending.
    server = await startIntakeServer({ roles: ['map'], env: { ADMIN_TOKEN: ADMIN } });
    const before = Date.now();
    await server.post([cardUsed('CRM-FIRST', 'p-1', BASE, 'S1')]);
    await new Promise((r) => setTimeout(r, 20));
    await server.post([cardUsed('CRM-SECOND', 'p-2', BASE, 'S2')]);
    const read = async () => {
      const answer = await request(`${server?.url}/admin/api/overview`, { headers: { authorization: basic(ADMIN) } });
      return (await answer.body.json()) as Overview;
    };
    expect(await waitFor(async () => (await read()).flow.find((s) => s.name === 'pending')?.count === 2, 10_000)).toBe(
      true,
    );
    const o = await read();
    expect(o.oldestPending?.visitor).toEqual({ mbox3rdPartyId: 'CRM-FIRST' });
    expect(Date.parse(o.oldestPending?.receivedAt ?? '')).toBeGreaterThanOrEqual(before);
  });
});

describe('pipeline console: bulk batches at Target', () => {
  let server: IntakeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('lists the claim Target is processing with its age and polls, and counts its rows delivered once complete', async () => {
    server = await startIntakeServer({
      roles: ['map', 'flusher', 'deliver'],
      env: { DELIVERY_MODE: 'bulk', ADMIN_TOKEN: ADMIN },
    });
    const { simulator } = server.running;
    simulator.faults.slowBatches({ processingMs: 2500 });
    await server.post([cardUsed('CRM-BULK-1', 'b-1', BASE, 'S1'), cardUsed('CRM-BULK-2', 'b-2', BASE, 'S2')]);
    const read = async () => {
      const answer = await request(`${server?.url}/admin/api/overview`, { headers: { authorization: basic(ADMIN) } });
      return (await answer.body.json()) as Overview;
    };
    let o = await read();
    expect(
      await waitFor(async () => {
        o = await read();
        return o.target.bulk.claims === 1 && (o.target.bulk.shown[0]?.pollRounds ?? 0) >= 2;
      }, 10_000),
    ).toBe(true);
    const claim = o.target.bulk.shown[0];
    expect(claim?.state).toMatch(/^(delayed|active|waiting)$/);
    expect(Date.parse(claim?.since ?? '')).toBeGreaterThan(Date.now() - 30_000);
    expect(claim?.lastPollAt).not.toBeNull();
    expect(o.target.bulk.oldestAgeSeconds).toBe(claim?.ageSeconds);
    expect(o.flow.find((s) => s.name === 'in_flight')?.count).toBe(2);
    // Submitted is not delivered.
    expect(o.flow.find((s) => s.name === 'delivered')?.count).toBe(0);

    expect(
      await waitFor(async () => {
        o = await read();
        return o.flow.find((s) => s.name === 'delivered')?.count === 2;
      }, 15_000),
    ).toBe(true);
    expect(o.target.bulk.statusPolls.total).toBeGreaterThanOrEqual(2);
    expect(await waitFor(async () => (await read()).target.bulk.claims === 0, 5000)).toBe(true);
  });
});

describe('pipeline console without ADMIN_TOKEN', () => {
  it('is off: 404 saying how to turn it on', async () => {
    const app = Fastify();
    await app.register(consoleRoutes({ config: { ADMIN_TOKEN: undefined } } as unknown as HttpContext));
    for (const url of ['/admin', '/admin/console.js', '/admin/api/overview']) {
      const answer = await app.inject({ url });
      expect(answer.statusCode, url).toBe(404);
      expect(answer.json()).toMatchObject({ message: expect.stringContaining('set ADMIN_TOKEN') as unknown });
    }
    await app.close();
  });
});

describe('console flow counts', () => {
  const redis = newRedis();
  const prefix = uniquePrefix('flow');
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });

  it('adds up what every process counted, per minute too, and keeps the latest event time per source', async () => {
    const logger = createLogger({ level: 'silent', pretty: false });
    const now = Date.UTC(2026, 10, 20, 12, 0, 30);
    const one = new FlowCounter(redis, prefix, logger);
    const two = new FlowCounter(redis, prefix, logger);
    one.recordIntake('pos-eu', { received: 5, rejected: 1, accepted: 4 }, now - 10_000);
    two.recordIntake('pos-eu', { received: 2, rejected: 2, accepted: 0 }, now);
    two.recordIntake('crm', { received: 1, rejected: 0, accepted: 1 }, now - 5000);
    one.add('delivered', 3);
    two.add('delivered', 4);
    await one.flush(now - 60_000);
    await two.flush(now);
    // Nothing new: no write.
    await two.flush(now);
    const flow = await readFlow(redis, prefix, now);
    expect(flow.totals).toEqual({ received: 8, rejected: 3, delivered: 7 });
    expect(flow.sources).toEqual({ 'pos-eu': now - 10_000, crm: now - 5000 });
    const byMinute = Object.fromEntries(flow.minutes.map((m) => [m.minute - Math.floor(now / 60_000), m.counts]));
    expect(byMinute[-1]).toEqual({ received: 5, rejected: 1, delivered: 3 });
    expect(byMinute[0]).toEqual({ received: 3, rejected: 2, delivered: 4 });
    const ttl = await redis.pttl(`{${prefix}}:flow:m:${Math.floor(now / 60_000)}`);
    expect(ttl).toBeGreaterThan(5 * 60_000);
    expect(ttl).toBeLessThanOrEqual(7 * 60_000);
  });
});
