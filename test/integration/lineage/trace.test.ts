import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { LIST_SCAN_MAX } from '../../../src/dlq/admin.js';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import type { EventLineage, VisitorLineage } from '../../../src/lineage/lineage.js';
import { startIntakeServer, type IntakeServer } from '../../harness/intake-server.js';
import { runBuilt } from '../../harness/spawn-process.js';
import { waitFor } from '../../harness/pipeline.js';

const ADMIN = 'admin-token-trace-0123456789';
const READONLY = 'readonly-token-trace-0123456789';
const CUSTOMER = 'CRM-88412';
const REFUSED = 'CRM-REFUSED-7';
const BASE = Date.UTC(2026, 10, 20, 12);

function cardUsed(visitor: string, id: string, at: number, storeId: string) {
  return {
    id,
    type: 'loyalty_card_used',
    occurredAt: new Date(at).toISOString(),
    visitor: { mbox3rdPartyId: visitor },
    data: { storeId, points: 10, cardId: '4111111111111111' },
  };
}

describe('where is my event: a visitor and each of its events, through HTTP and the CLI', () => {
  let server: IntakeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const get = async (path: string, token = ADMIN) => {
    const answer = await request(`${server?.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: answer.statusCode, body: await answer.body.json() };
  };

  it('tells applied, superseded and late events apart, names the delivery that carried them and what Target said', async () => {
    server = await startIntakeServer({
      roles: ['map', 'flusher', 'deliver'],
      env: {
        DELIVERY_MODE: 'single',
        ADMIN_TOKEN: ADMIN,
        ADMIN_READONLY_TOKEN: READONLY,
        COALESCE_WINDOW_MS: '200',
        DELIVERY_MAX_ATTEMPTS: '1',
      },
    });
    const { running } = server;
    const { simulator } = running;
    simulator.faults.rejectVisitor(REFUSED, 400);

    // e-1 is applied, then replaced by the newer e-2 of the next request before delivery;
    // e-3, older than e-2 and in its request, never gets in (the merge keeps only the newest
    // value per visitor and attribute of a call); e-0 (older, sent later) loses to both.
    expect((await server.post([cardUsed(CUSTOMER, 'e-1', BASE, 'S1')])).body.accepted).toBe(1);
    const second = await server.post([
      cardUsed(CUSTOMER, 'e-3', BASE + 30_000, 'S3'),
      cardUsed(CUSTOMER, 'e-2', BASE + 60_000, 'S2'),
      cardUsed(REFUSED, 'r-1', BASE, 'S9'),
    ]);
    expect(second.body.accepted).toBe(3);
    expect((await server.post([cardUsed(CUSTOMER, 'e-0', BASE - 60_000, 'S0')])).body.accepted).toBe(1);
    const landed = () => simulator.store.get('thirdPartyId', CUSTOMER)?.loyaltyLastStoreId === 'S2';
    expect(await waitFor(landed, 15_000)).toBe(true);
    expect(await waitFor(async () => (await running.pipeline.queues.deadLetter.getWaitingCount()) === 1, 15_000)).toBe(
      true,
    );
    // After the delivery, an event older than what Target holds: late.
    expect((await server.post([cardUsed(CUSTOMER, 'e-late', BASE - 120_000, 'SL')])).body.accepted).toBe(1);

    const visitor = await get(`/admin/visitors/mbox3rdPartyId/${CUSTOMER}`, READONLY);
    expect(visitor.status).toBe(200);
    const view = visitor.body as VisitorLineage<{ error: { code: string } }>;
    expect(view.visitor).toEqual({ mbox3rdPartyId: CUSTOMER });
    const store = view.attributes.find((a) => a.name === 'loyaltyLastStoreId');
    expect(store?.delivered).toMatchObject({
      value: 'S2',
      eventId: 'e-2',
      occurredAt: new Date(BASE + 60_000).toISOString(),
    });
    expect(store?.pending).toBeNull();
    expect(view.inFlight).toBeNull();
    expect(view.deliveries).toHaveLength(1);
    expect(view.deliveries[0]).toMatchObject({ route: 'single', answer: 'accepted', batchId: null, rowsFailed: 0 });
    expect(view.deliveries[0]?.attributes.find((a) => a.name === 'loyaltyLastStoreId')?.eventId).toBe('e-2');
    expect(view.deadLetters).toEqual([]);
    // The private card number never appears, nor anything else of the raw events.
    expect(JSON.stringify(view)).not.toContain('4111');

    const fate = async (id: string) => {
      const answer = await get(`/admin/events/pos-eu/${id}`);
      expect(answer.status, id).toBe(200);
      return answer.body as EventLineage;
    };
    const e2 = await fate('e-2');
    expect(e2).toMatchObject({
      state: 'merged',
      merge: 'applied',
      visitor: { mbox3rdPartyId: CUSTOMER },
      landed: true,
    });
    expect(e2.attributes.find((a) => a.name === 'loyaltyLastStoreId')).toEqual({
      name: 'loyaltyLastStoreId',
      status: 'delivered',
      replacedBy: null,
    });
    expect(e2.delivery?.answer).toBe('accepted');
    expect(Date.parse(e2.receivedAt ?? '')).toBeGreaterThan(Date.now() - 60_000);

    const e1 = await fate('e-1');
    expect(e1.merge).toBe('applied');
    expect(e1.attributes.find((a) => a.name === 'loyaltyLastStoreId')).toMatchObject({
      status: 'replaced',
      replacedBy: { eventId: 'e-2' },
    });
    // The delivery of the newer values that replaced it, which Target accepted.
    expect(e1.delivery?.attributes.map((a) => a.eventId)).toContain('e-2');
    expect(e1.landed).toBe(true);

    expect((await fate('e-0')).merge).toBe('superseded');
    const e3 = await fate('e-3');
    expect(e3.merge).toBe('superseded');
    expect(e3.attributes.find((a) => a.name === 'loyaltyLastStoreId')).toMatchObject({
      status: 'replaced',
      replacedBy: { eventId: 'e-2' },
    });
    const late = await fate('e-late');
    expect(late.merge).toBe('late');
    expect(late.attributes.every((a) => a.status === 'replaced')).toBe(true);

    // The refused visitor: its failed delivery and its dead letter.
    const refused = (await get(`/admin/visitors/mbox3rdPartyId/${REFUSED}`)).body as VisitorLineage<{
      error: { code: string };
    }>;
    expect(refused.deliveries[0]).toMatchObject({ route: 'single', answer: 'failed' });
    expect(refused.deliveries[0]?.detail).toContain('TARGET_HTTP_400');
    expect(refused.deadLetters.map((d) => d.error.code)).toEqual(['TARGET_HTTP_400']);
    expect((await fate('r-1')).landed).toBe(false);

    // Unknown ones, and credentials.
    expect((await get('/admin/events/pos-eu/never-sent')).status).toBe(404);
    expect((await get('/admin/visitors/mbox3rdPartyId/CRM-NOBODY')).status).toBe(404);
    expect((await get('/admin/visitors/tntId/x')).status).toBe(404);
    expect((await get(`/admin/visitors/mbox3rdPartyId/${CUSTOMER}`, 'wrong-token')).status).toBe(401);

    // The same from the command line: text for people, JSON for scripts.
    const env = { REDIS_URL: running.config.REDIS_URL, REDIS_PREFIX: running.prefix };
    const text = runBuilt('src/cli.js', env, ['trace', `mbox3rdPartyId:${CUSTOMER}`]);
    expect(await text.exited).toBe(0);
    const printed = text.lines.join('\n');
    expect(printed).toMatch(/single\s+ACCEPTED/);
    expect(printed).toContain('loyaltyLastStoreId: ');
    expect(printed).toContain('delivered "S2" (event e-2');
    const json = runBuilt('src/cli.js', env, ['trace', '--event', 'pos-eu:e-0', '--json']);
    expect(await json.exited).toBe(0);
    expect((JSON.parse(json.lines.join('\n')) as EventLineage).merge).toBe('superseded');
    const unknown = runBuilt('src/cli.js', env, ['trace', '--event', 'pos-eu:never-sent']);
    expect(await unknown.exited).toBe(3);

    // Erasure: the visitor's log goes with it, and its events no longer name it.
    const forget = await request(`${server.url}/admin/visitors/mbox3rdPartyId/${CUSTOMER}/forget`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(forget.statusCode).toBe(200);
    expect((await get(`/admin/visitors/mbox3rdPartyId/${CUSTOMER}`)).status).toBe(404);
    const forgotten = await fate('e-2');
    expect(forgotten).toMatchObject({ merge: 'applied', forgotten: true, visitor: null, delivery: null });
    expect(JSON.stringify(forgotten)).not.toContain(CUSTOMER);
  });

  it('shows a bulk delivery with its batch id, and the claim while Target processes the batch', async () => {
    server = await startIntakeServer({
      roles: ['map', 'flusher', 'deliver'],
      env: { DELIVERY_MODE: 'bulk', ADMIN_TOKEN: ADMIN, COALESCE_WINDOW_MS: '200' },
    });
    const { simulator } = server.running;
    expect((await server.post([cardUsed(CUSTOMER, 'b-1', BASE, 'B1')])).body.accepted).toBe(1);
    // The library simulator keeps a batch incomplete for 2 s: the claim shows the batch.
    const inFlight = async () =>
      ((await get(`/admin/visitors/mbox3rdPartyId/${CUSTOMER}`)).body as VisitorLineage).inFlight?.batchId != null;
    expect(await waitFor(inFlight, 10_000)).toBe(true);
    const during = (await get(`/admin/visitors/mbox3rdPartyId/${CUSTOMER}`)).body as VisitorLineage;
    expect(during.inFlight).toMatchObject({ mode: 'bulk', held: false });
    expect(during.attributes.find((a) => a.name === 'loyaltyLastStoreId')?.inFlight?.eventId).toBe('b-1');
    const landed = () => simulator.store.get('thirdPartyId', CUSTOMER)?.loyaltyLastStoreId === 'B1';
    expect(await waitFor(landed, 15_000)).toBe(true);
    const acked = async () =>
      ((await get(`/admin/visitors/mbox3rdPartyId/${CUSTOMER}`)).body as VisitorLineage).deliveries.length > 0;
    expect(await waitFor(acked, 10_000)).toBe(true);
    const after = (await get(`/admin/visitors/mbox3rdPartyId/${CUSTOMER}`)).body as VisitorLineage;
    expect(after.deliveries[0]).toMatchObject({ route: 'bulk', answer: 'accepted', batchId: during.inFlight?.batchId });
    expect(after.inFlight).toBeNull();
  });

  it("says when a visitor's older dead letters were not searched, with the command that searches them", async () => {
    // Map only: a later event stays pending, so the store knows the visitor.
    server = await startIntakeServer({ roles: ['map'], env: { ADMIN_TOKEN: ADMIN } });
    const { pipeline } = server.running;
    const letter = (visitor: string, n: number): DeadLetter => ({
      stage: 'deliver-single',
      source: 'pos-eu',
      visitors: [{ vk: `3p:${visitor}`, attributes: { tier: { value: 'gold', stamp: `000${BASE + n}|x` } } }],
      error: { class: 'TargetRejectedError', code: 'TARGET_HTTP_400', message: 'rejected' },
      attempts: 1,
      firstAttemptAt: BASE,
      lastAttemptAt: BASE,
    });
    // The visitor's only trace: one dead letter, with LIST_SCAN_MAX + 100 of others after it.
    await pipeline.queues.deadLetter.add('deliver-single', letter(REFUSED, 0));
    const others = LIST_SCAN_MAX + 100;
    await pipeline.queues.deadLetter.addBulk(
      Array.from({ length: others }, (_, n) => ({ name: 'deliver-single', data: letter(`CRM-OTHER-${n}`, n) })),
    );
    const answer = await get(`/admin/visitors/mbox3rdPartyId/${REFUSED}`);
    expect(answer.status).toBe(404);
    const message = (answer.body as { message: string }).message;
    expect(message).toContain(
      `only the newest ${LIST_SCAN_MAX} of ${others + 1} dead letters were searched for this visitor; \`target-ingest dlq list --visitor mbox3rdPartyId:${REFUSED} --cursor `,
    );
    // The listing it names goes on where the search stopped, and finds the entry.
    const next = /GET (\/admin\/dead-letters\?\S+)\)/.exec(message)?.[1];
    expect(next).toBeDefined();
    const listed = (await get(next ?? '')).body as { entries: Array<{ stage: string }> };
    expect(listed.entries.map((e) => e.stage)).toEqual(['deliver-single']);
    // With a trace in the store too, the view shows the same note beside what it found.
    expect((await server.post([cardUsed(REFUSED, 'r-1', BASE, 'R1')])).body.accepted).toBe(1);
    // Known once merged: read the store, not the route (each route call scans 2,000 entries).
    const pending = async () => (await server?.running.pipeline.store.pendingVisitors()) === 1;
    expect(await waitFor(pending)).toBe(true);
    const view = (await get(`/admin/visitors/mbox3rdPartyId/${REFUSED}`)).body as VisitorLineage;
    expect(view.deadLetters).toEqual([]);
    expect(view.deadLettersSearched).toMatchObject({ scanned: LIST_SCAN_MAX, queued: others + 1 });
    expect(view.deadLettersSearched?.next).toEqual(expect.any(String));
  });
});
