import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterAdmin } from '../../../src/dlq/admin.js';
import { buildHttpServer, listen } from '../../../src/http/server.js';
import { httpPluginsFor } from '../../../src/lifecycle/http-routes.js';
import { createLogger } from '../../../src/logger.js';
import { createRedactionPolicy } from '../../../src/redact.js';
import { Metrics } from '../../../src/metrics/metrics.js';
import type { DeadLetter } from '../../../src/jobs/catalog.js';
import { resolveMapping } from '../../../src/events/index.js';
import { deletePrefix } from '../../harness/context.js';
import { startTestPipeline, type TestPipeline } from '../../harness/pipeline.js';

const ADMIN = 'admin-token-0123456789';
const READER = 'reader-token-0123456789';

function letter(stage: DeadLetter['stage'], code: string, source: string, at: number): DeadLetter {
  return {
    stage,
    source,
    events: [{ id: `${stage}-${at}` }],
    error: { class: 'X', code, message: 'm' },
    attempts: 1,
    firstAttemptAt: at,
    lastAttemptAt: at,
  };
}

describe('dead-letter administration', () => {
  let running: TestPipeline;
  let admin: DeadLetterAdmin;
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    running = await startTestPipeline({ ADMIN_TOKEN: ADMIN, ADMIN_READONLY_TOKEN: READER }, ['map']);
    const mapping = resolveMapping();
    // As src/lifecycle/process.ts: one policy for the logger and the routes.
    const redaction = createRedactionPolicy({ config: running.config, mapping });
    const logger = createLogger({ level: 'silent', pretty: false, redaction });
    admin = new DeadLetterAdmin(running.pipeline.queues, running.pipeline.store, logger);
    const app = await buildHttpServer({
      logger,
      bodyLimit: 1_000_000,
      plugins: httpPluginsFor({
        config: running.config,
        logger,
        mapping,
        redaction,
        pipeline: running.pipeline,
        metrics: new Metrics({ defaultMetrics: false }),
        roles: ['map'],
        isStopping: () => false,
      }),
    });
    base = await listen(app, 0, '127.0.0.1');
    close = () => app.close();
  });
  afterAll(async () => {
    await close();
    await running.close();
    await deletePrefix(running.pipeline.redis, running.prefix).catch(() => undefined);
  });

  it('filters by stage, code, source and time, newest first; trims by count and age, oldest first', async () => {
    const q = running.pipeline.queues.deadLetter;
    await q.add('map', letter('map', 'EVENT_INVALID', 'pos', 1000));
    await q.add('deliver-single', letter('deliver-single', 'TARGET_HTTP_400', 'pos', 2000));
    await q.add('deliver-bulk', letter('deliver-bulk', 'BULK_BATCH_STUCK', 'kiosk', 3000));
    expect((await admin.list({ stage: 'map' })).total).toBe(1);
    expect((await admin.list({ code: 'TARGET_HTTP_400' })).entries.map((e) => e.stage)).toEqual(['deliver-single']);
    expect((await admin.list({ source: 'pos' })).total).toBe(2);
    expect((await admin.list({ since: 2000, until: 3000 })).entries.map((e) => e.stage)).toEqual(['deliver-single']);
    expect((await admin.list({})).entries.map((e) => e.stage)).toEqual(['deliver-bulk', 'deliver-single', 'map']);

    // Count: keep 2 → the oldest (map) goes.
    expect(await admin.trim(2, 1e12)).toBe(1);
    expect((await admin.list({})).entries.map((e) => e.stage)).toEqual(['deliver-bulk', 'deliver-single']);
    // Age: everything written "now" is younger than an hour.
    expect(await admin.trim(100, 3600_000)).toBe(0);
    expect(await admin.trim(100, 3600_000, Date.now() + 2 * 3600_000)).toBe(2);
    expect(await q.count()).toBe(0);
  });

  it('serves the same over /admin/dead-letters: credentials required, read-only may only read', async () => {
    const q = running.pipeline.queues.deadLetter;
    await q.add('map', letter('map', 'EVENT_INVALID', 'pos', 5000));
    const anonymous = await request(`${base}/admin/dead-letters`);
    expect(anonymous.statusCode).toBe(401);
    await anonymous.body.dump();

    const list = await request(`${base}/admin/dead-letters?stage=map`, {
      headers: { authorization: `Bearer ${READER}` },
    });
    expect(list.statusCode).toBe(200);
    const body = (await list.body.json()) as { total: number; entries: Array<{ id: string }> };
    expect(body.total).toBe(1);
    const one = await request(`${base}/admin/dead-letters/${body.entries[0]?.id ?? 'x'}`, {
      headers: { authorization: `Bearer ${READER}` },
    });
    expect(((await one.body.json()) as { error: { code: string } }).error.code).toBe('EVENT_INVALID');

    const bad = await request(`${base}/admin/dead-letters?stage=nope`, {
      headers: { authorization: `Bearer ${READER}` },
    });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(await bad.body.json())).toMatch(/stage: expected one of/);

    const post = (token: string, path: string, payload: unknown) =>
      request(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(payload),
      });
    const forbidden = await post(READER, '/admin/dead-letters/purge', { filter: { stage: 'map' } });
    expect(forbidden.statusCode).toBe(403);
    await forbidden.body.dump();
    const dry = await post(ADMIN, '/admin/dead-letters/purge', { filter: { stage: 'map' }, dryRun: true });
    expect(await dry.body.json()).toMatchObject({ action: 'purge', dryRun: true, matched: 1, done: 0 });
    const purged = await post(ADMIN, '/admin/dead-letters/purge', { filter: { stage: 'map' } });
    expect(await purged.body.json()).toMatchObject({ matched: 1, done: 1 });
    expect(await q.count()).toBe(0);
  });

  it('pages over /admin/dead-letters with a next marker and cursor; a bad cursor is refused, naming it', async () => {
    const q = running.pipeline.queues.deadLetter;
    for (const at of [9001, 9002, 9003]) await q.add('map', letter('map', 'EVENT_INVALID', 'pos', at));
    const get = async (query: string) => {
      const response = await request(`${base}/admin/dead-letters?${query}`, {
        headers: { authorization: `Bearer ${READER}` },
      });
      return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
    };
    const first = await get('stage=map&limit=2');
    expect(first.status).toBe(200);
    // The same fields as before (total, entries), plus where to go on from.
    expect(first.body).toMatchObject({ entries: [{ lastAttemptAt: 9003 }, { lastAttemptAt: 9002 }], queued: 3 });
    expect(first.body.next).toEqual(expect.any(String));
    const second = await get(`stage=map&limit=2&cursor=${encodeURIComponent(String(first.body.next))}`);
    expect(second.body).toMatchObject({ total: 3, entries: [{ lastAttemptAt: 9001 }] });
    expect(second.body.next).toBeUndefined();
    const unfiltered = await get('limit=1');
    expect(unfiltered.body).toMatchObject({ total: 3, entries: [{ lastAttemptAt: 9003 }] });

    expect(await get('stage=map&cursor=nonsense')).toMatchObject({
      status: 400,
      body: { error: 'bad_cursor', problems: [expect.stringMatching(/^cursor: not a cursor from this server/)] },
    });
    expect(await get(`stage=deliver-bulk&cursor=${encodeURIComponent(String(first.body.next))}`)).toMatchObject({
      status: 400,
      body: { error: 'bad_cursor', problems: [expect.stringMatching(/^cursor: made for another filter/)] },
    });
    await q.drain();
  });

  describe('replay and purge refuse requests that do not say what they act on', () => {
    const send = (path: string, body: string, contentType: string | undefined, authorization = `Bearer ${ADMIN}`) =>
      request(`${base}${path}`, {
        method: 'POST',
        headers: { authorization, ...(contentType === undefined ? {} : { 'content-type': contentType }) },
        body,
      });
    const json = async (path: string, payload: unknown) => {
      const response = await send(path, JSON.stringify(payload), 'application/json');
      return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
    };
    const seed = async () => {
      const q = running.pipeline.queues.deadLetter;
      await q.add('map', letter('map', 'EVENT_INVALID', 'pos', 7000));
      await q.add('deliver-single', letter('deliver-single', 'TARGET_HTTP_400', 'kiosk', 8000));
      return q;
    };

    it('refuses a cross-site form post (text/plain, urlencoded, multipart, none) with cached Basic credentials and removes nothing', async () => {
      const q = await seed();
      const basic = `Basic ${Buffer.from(`operator:${ADMIN}`).toString('base64')}`;
      // What <form enctype="text/plain"> sends: name=value, which a JSON parser never sees.
      const forms: Array<[string, string | undefined]> = [
        ['{"all": true, "x": "=1"}', 'text/plain'],
        ['{"filter":{}}', 'text/plain;charset=UTF-8'],
        ['all=true', 'application/x-www-form-urlencoded'],
        [
          '--b\r\nContent-Disposition: form-data; name="all"\r\n\r\ntrue\r\n--b--\r\n',
          'multipart/form-data; boundary=b',
        ],
        ['{"all": true}', undefined],
        ['{"all": true}', 'application/json-patch+json'],
      ];
      for (const action of ['purge', 'replay']) {
        for (const [body, type] of forms) {
          const response = await send(`/admin/dead-letters/${action}`, body, type, basic);
          expect(response.statusCode, `${action} ${type ?? 'no content-type'}`).toBe(415);
          expect(await response.body.json()).toMatchObject({ error: 'unsupported_media_type' });
        }
      }
      expect(await q.count()).toBe(2);
      // Without credentials the answer is still 401, before the body is looked at.
      const anonymous = await request(`${base}/admin/dead-letters/purge`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      });
      expect(anonymous.statusCode).toBe(401);
      await anonymous.body.dump();
      await running.pipeline.queues.deadLetter.drain();
    });

    it('refuses an empty, missing or unknown filter and bodies that are not an object; all: true acts on everything', async () => {
      const q = await seed();
      for (const action of ['purge', 'replay']) {
        const path = `/admin/dead-letters/${action}`;
        for (const payload of [{}, { filter: {} }, { dryRun: false }, { all: false }, { filter: {}, all: false }]) {
          const answer = await json(path, payload);
          expect(answer.status, `${action} ${JSON.stringify(payload)}`).toBe(400);
          expect(answer.body).toMatchObject({ error: 'filter_required' });
          expect(String(answer.body.message)).toMatch(
            /^filter: name at least one of stage, code, source, visitor, since, until, or send "all": true/,
          );
        }
        for (const payload of [[], 'all', null, 1, true]) {
          const answer = await json(path, payload);
          expect(answer.status, `${action} ${JSON.stringify(payload)}`).toBe(400);
          expect(answer.body).toMatchObject({
            error: 'bad_request',
            message: expect.stringMatching(/^the body must be a JSON object/) as unknown,
          });
        }
        expect(await json(path, { filter: { stag: 'map' } })).toMatchObject({
          status: 400,
          body: { error: 'bad_filter', problems: [expect.stringMatching(/^filter\.stag: unknown field/)] },
        });
        expect(await json(path, { filter: { stage: 'map' }, dryrun: true })).toMatchObject({
          status: 400,
          body: { error: 'bad_request', message: expect.stringMatching(/^unknown field "dryrun"/) as unknown },
        });
        expect(await json(path, { filter: { stage: 'map' }, dryRun: 'yes' })).toMatchObject({
          status: 400,
          body: { message: 'dryRun: expected true or false' },
        });
        expect(await json(path, { all: 'true' })).toMatchObject({
          status: 400,
          body: { message: 'all: expected true or false' },
        });
        expect(await json(path, { all: true, filter: { stage: 'map' } })).toMatchObject({
          status: 400,
          body: { error: 'bad_filter' },
        });
        expect(await json(path, { filter: ['map'] })).toMatchObject({ status: 400, body: { error: 'bad_filter' } });
        expect(await json(path, { filter: { stage: 'nope' } })).toMatchObject({
          status: 400,
          body: { error: 'bad_filter', problems: [expect.stringMatching(/^stage: expected one of/)] },
        });
      }
      const malformed = await send('/admin/dead-letters/purge', '{"all": tru', 'application/json');
      expect(malformed.statusCode).toBe(400);
      await malformed.body.dump();
      expect(await q.count()).toBe(2);

      expect(await json('/admin/dead-letters/purge', { all: true, dryRun: true })).toMatchObject({
        status: 200,
        body: { action: 'purge', dryRun: true, matched: 2, done: 0 },
      });
      expect(await q.count()).toBe(2);
      expect(await json('/admin/dead-letters/replay', { filter: { source: 'kiosk' }, dryRun: true })).toMatchObject({
        status: 200,
        body: { matched: 1, done: 0 },
      });
      expect(await json('/admin/dead-letters/purge', { all: true })).toMatchObject({
        status: 200,
        body: { action: 'purge', dryRun: false, matched: 2, done: 2 },
      });
      expect(await q.count()).toBe(0);
    });

    it('replays everything with all: true, over JSON with a charset', async () => {
      const q = await seed();
      const response = await send(
        '/admin/dead-letters/replay',
        JSON.stringify({ all: true }),
        'Application/JSON; charset=utf-8',
      );
      expect(response.statusCode).toBe(200);
      const answer = (await response.body.json()) as { ids: string[] };
      expect(answer).toMatchObject({ action: 'replay', dryRun: false, matched: 2, done: 2 });
      // The entries left the dead-letter queue (the map worker may dead-letter these
      // id-only test events again, under new ids).
      for (const id of answer.ids) expect(await q.getJob(id), id).toBeUndefined();
      await q.drain();
    });
  });
});
