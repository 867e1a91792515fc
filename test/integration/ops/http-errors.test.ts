import type { FastifyPluginAsync } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logger.js';
import { buildHttpServer, listen } from '../../../src/http/server.js';
import { OPS_ROUTES } from '../../../src/ops/routes.js';
import { ADMIN_TOKEN, bearer, memoryDestination, startOpsServer, type OpsServer } from './ops-server.js';

const CARD = '6011000990139424';
const VISITOR = 'CRM-SECRET-VISITOR-77';
const TOKEN = 'tok-4f2a9c1e7b3d5a60';

type Line = Record<string, unknown> & { msg?: string; level?: number };

function parse(lines: readonly string[]): Line[] {
  return lines.map((line) => JSON.parse(line) as Line);
}

/** Every line the server logged for failed requests. */
function failedLines(lines: readonly string[]): Line[] {
  return parse(lines).filter((l) => l.msg === 'request failed');
}

describe('the HTTP server logs an error that ends in a 5xx once, on every route', () => {
  const lines: string[] = [];
  let url = '';
  let close: () => Promise<void>;

  beforeAll(async () => {
    const logger = createLogger({
      level: 'info',
      pretty: false,
      destination: memoryDestination(lines),
      secretValues: [],
    });
    const plain: FastifyPluginAsync = async (app) => {
      app.post('/things/:id', () => Promise.reject(new Error('the store went away')));
      app.get('/throttled', () => Promise.reject(Object.assign(new Error('upstream is busy'), { statusCode: 503 })));
      app.get('/bad', () => Promise.reject(Object.assign(new Error('no such thing'), { statusCode: 400 })));
      app.get('/not-ready', async (_request, reply) => reply.code(503).send({ status: 'not ready' }));
      await Promise.resolve();
    };
    // As bull-board does: its own error handler turns every error into a 500 answer.
    const ownHandler: FastifyPluginAsync = async (app) => {
      app.setErrorHandler((error: Error, _request, reply) =>
        reply.code(500).send({ error: 'Internal server error', message: error.message }),
      );
      app.get('/board/api/queues', () => Promise.reject(new Error('the board could not read a queue')));
      await Promise.resolve();
    };
    // As intake does: its error handler logs what it answers with a 500.
    const selfLogging: FastifyPluginAsync = async (app) => {
      app.setErrorHandler((error: Error, request, reply) => {
        request.log.error({ code: 'X' }, 'self-logged failure');
        return reply.code(500).send({ error: 'INTERNAL_ERROR', message: error.message });
      });
      app.get('/self', () => Promise.reject(new Error('intake broke')));
      await Promise.resolve();
    };
    const app = await buildHttpServer({
      logger,
      bodyLimit: 1024 * 1024,
      plugins: [
        { name: 'plain', plugin: plain },
        { name: 'own-handler', plugin: ownHandler },
        { name: 'self-logging', plugin: selfLogging, logsOwnErrors: true },
      ],
    });
    url = await listen(app, 0, '127.0.0.1');
    close = () => app.close();
  });
  afterAll(async () => {
    await close();
  });

  it('logs method, route pattern, status and the error; never the URL ids, the body or the headers', async () => {
    const response = await fetch(`${url}/things/${VISITOR}?card=${CARD}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', cookie: `session=${TOKEN}` },
      body: JSON.stringify({ cardId: CARD, visitor: VISITOR }),
    });
    expect(response.status).toBe(500);
    const failed = failedLines(lines);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 50,
      method: 'POST',
      route: '/things/:id',
      status: 500,
      role: 'http',
      err: { message: 'the store went away' },
    });
    const text = lines.join('\n');
    for (const secret of [VISITOR, CARD, TOKEN]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/authorization|cookie|"req"|"url"/i);
  });

  it('logs the 5xx of a route whose own error handler answers it (bull-board)', async () => {
    lines.length = 0;
    expect((await fetch(`${url}/board/api/queues`)).status).toBe(500);
    expect(failedLines(lines)).toEqual([
      expect.objectContaining({ route: '/board/api/queues', status: 500, method: 'GET' }),
    ]);
  });

  it('logs an error answered 503, but not a 503 sent on purpose, nor a 4xx', async () => {
    lines.length = 0;
    expect((await fetch(`${url}/throttled`)).status).toBe(503);
    expect((await fetch(`${url}/not-ready`)).status).toBe(503);
    expect((await fetch(`${url}/bad`)).status).toBe(400);
    expect((await fetch(`${url}/nowhere`)).status).toBe(404);
    expect(failedLines(lines)).toEqual([expect.objectContaining({ route: '/throttled', status: 503 })]);
  });

  it('leaves the line to a plugin that logs its own failures, so it is written once', async () => {
    lines.length = 0;
    expect((await fetch(`${url}/self`)).status).toBe(500);
    expect(failedLines(lines)).toEqual([]);
    expect(parse(lines).filter((l) => l.msg === 'self-logged failure')).toHaveLength(1);
  });
});

describe('5xx on the admin routes of a running process', () => {
  let ops: OpsServer;

  beforeAll(async () => {
    ops = await startOpsServer({ roles: [], logLevel: 'info' });
    // A key of the wrong type: every read of the dead-letter queue fails in Redis itself.
    const waiting = ops.pipeline.queues.deadLetter.keys.wait;
    if (waiting === undefined) throw new Error('BullMQ no longer names its wait list');
    await ops.pipeline.redis.set(waiting, 'not a list');
  });
  afterAll(async () => {
    await ops.close();
  });

  it('logs a failing dead-letter listing and replay once each, without the token or the body', async () => {
    const auth = { authorization: bearer(ADMIN_TOKEN) };
    expect((await fetch(`${ops.url}/admin/dead-letters?source=pos`, { headers: auth })).status).toBe(500);
    const replay = await fetch(`${ops.url}/admin/dead-letters/replay`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ filter: { source: CARD } }),
    });
    expect(replay.status).toBe(500);
    const failed = failedLines(ops.logLines);
    expect(failed).toEqual([
      expect.objectContaining({ method: 'GET', route: '/admin/dead-letters', status: 500 }),
      expect.objectContaining({ method: 'POST', route: '/admin/dead-letters/replay', status: 500 }),
    ]);
    for (const line of failed) expect(JSON.stringify(line.err)).toContain('WRONGTYPE');
    const text = ops.logLines.join('\n');
    expect(text).not.toContain(ADMIN_TOKEN);
    expect(text).not.toContain(CARD);
  });

  it('logs a failing dashboard API call once', async () => {
    const before = failedLines(ops.logLines).length;
    const response = await fetch(
      `${ops.url}${OPS_ROUTES.dashboard}/api/queues?activeQueue=dead-letter&status=latest&page=1`,
      { headers: { authorization: bearer(ADMIN_TOKEN) } },
    );
    expect(response.status).toBe(500);
    const failed = failedLines(ops.logLines).slice(before);
    expect(failed).toEqual([
      expect.objectContaining({ method: 'GET', route: `${OPS_ROUTES.dashboard}/api/queues`, status: 500 }),
    ]);
    expect(ops.logLines.join('\n')).not.toContain(ADMIN_TOKEN);
  });
});
