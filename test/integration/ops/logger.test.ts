import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logger.js';
import { createRedactor, secretsFromEnv } from '../../../src/redact.js';
import { memoryDestination } from './ops-server.js';

const CARD = '6011000990139424';
const SPACED_CARD = '4111 1111 1111 1111';
const AGENT = 'A-77-secret-agent';
const API_KEY = 'k3y-0123456789abcdef-pos';
const ADMIN = 'admin-token-5f4e3d2c1b0a';
const TARGET_TOKEN = 'target-bearer-9a8b7c6d5e4f';
const REDIS_PASSWORD = 'r3dis-pa55word-xyz';
const SECRETS = [CARD, '4111111111111111', SPACED_CARD, AGENT, API_KEY, ADMIN, TARGET_TOKEN, REDIS_PASSWORD];

function logged(level = 'trace') {
  const lines: string[] = [];
  const env = {
    INGEST_API_KEYS: `pos:${API_KEY}`,
    ADMIN_TOKEN: ADMIN,
    TARGET_AUTH_TOKEN: TARGET_TOKEN,
    REDIS_URL: `redis://:${REDIS_PASSWORD}@redis:6379`,
  };
  const logger = createLogger({
    level,
    pretty: false,
    destination: memoryDestination(lines),
    secretValues: secretsFromEnv(env),
    redactKeys: ['loyaltyNumber'],
  });
  return { logger, lines, env };
}

function expectClean(lines: string[]): void {
  expect(lines.length).toBeGreaterThan(0);
  const text = lines.join('\n');
  for (const secret of SECRETS) expect(text, `leaked ${secret}`).not.toContain(secret);
}

describe('log redaction', () => {
  it('keeps credentials, card numbers and agent ids out of every kind of log call', () => {
    const { logger, lines, env } = logged();
    logger.info(
      { req: { headers: { authorization: `Bearer ${ADMIN}`, 'x-api-key': API_KEY, Cookie: `session=${ADMIN}` } } },
      'request',
    );
    logger.info({ authorization: `Basic ${Buffer.from(`ops:${ADMIN}`).toString('base64')}` }, 'top-level header');
    logger.info({ config: env }, 'config dump');
    logger.info({ INGEST_API_KEYS: env.INGEST_API_KEYS, ingest_api_keys: env.INGEST_API_KEYS }, 'keys by name');
    // Nested deeper than pino's own redact paths reach: job → data → events[] → data.
    logger.warn(
      {
        job: {
          data: {
            events: [{ id: 'pos-1', data: { storeId: 'S1', cardId: CARD, agentId: AGENT, loyaltyNumber: 'L-1' } }],
          },
        },
      },
      'nested event data',
    );
    logger.warn(
      { letter: { visitors: [{ vk: '3p:CRM-1', note: `card ${SPACED_CARD} seen` }] } },
      'card inside a free-text field',
    );
    logger.error(
      { err: new Error(`Target answered 400 for card ${CARD} with Bearer ${TARGET_TOKEN}`) },
      'delivery failed',
    );
    logger.error(new Error(`unexpected card number ${CARD}`));
    logger.error(new Error('wrapped', { cause: new Error(`inner ${CARD}`) }), 'with cause');
    logger.info(`message text with ${CARD} and agent token ${ADMIN}`);
    logger.info('interpolated %s and %o', CARD, { cardId: CARD });
    logger.info({ url: `redis://default:${REDIS_PASSWORD}@redis:6379/0` }, 'connecting');
    logger
      .child({ jobId: 'j-1', queue: 'deliver-single', attempt: 2 })
      .info({ cardId: CARD, delivered: 3 }, 'child line');
    expectClean(lines);
  });

  it('keeps ids, counts and timestamps readable', () => {
    const { logger, lines } = logged();
    const at = 1_732_180_000_000;
    logger.info(
      {
        jobId: 'claim-7',
        queue: 'deliver-single',
        attempt: 1,
        delivered: 12,
        calls: 12,
        firstAttemptAt: at,
        occurredAt: '2026-11-21T10:15:00.000Z',
      },
      'single delivery',
    );
    logger.error({ err: new Error('Target answered HTTP 503 to GET /m2/acme/profile/update') }, 'attempt failed');
    const [delivery, failure] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(delivery).toMatchObject({
      jobId: 'claim-7',
      queue: 'deliver-single',
      attempt: 1,
      delivered: 12,
      firstAttemptAt: at,
      occurredAt: '2026-11-21T10:15:00.000Z',
      msg: 'single delivery',
    });
    expect(failure).toMatchObject({
      msg: 'attempt failed',
      err: { type: 'Error', message: 'Target answered HTTP 503 to GET /m2/acme/profile/update' },
    });
    expect((failure?.err as { stack?: string }).stack).toMatch(/^Error: Target answered/);
  });

  it('logs an Error passed alone the way pino does: its message as the line, the error under err', () => {
    const { logger, lines } = logged();
    logger.error(new Error(`no card ${CARD} here`));
    const line = JSON.parse(lines[0] ?? '{}') as { msg?: string; err?: { message?: string } };
    expect(line.msg).toBe('no card [redacted-number] here');
    expect(line.err?.message).toBe('no card [redacted-number] here');
  });

  it('masks by key in any spelling and by content, without touching numbers', () => {
    const redactor = createRedactor({ keys: ['cardId'] });
    expect(
      redactor.value({
        card_id: CARD,
        CARDID: 1,
        'X-Api-Key': 'x',
        adminToken: 'y',
        count: 6011000990139424,
        list: [`#${CARD}#`],
      }),
    ).toEqual({
      card_id: '[redacted]',
      CARDID: '[redacted]',
      'X-Api-Key': '[redacted]',
      adminToken: '[redacted]',
      count: 6011000990139424,
      list: ['#[redacted-number]#'],
    });
    const circular: Record<string, unknown> = { id: 'a' };
    circular.self = circular;
    expect(redactor.value(circular)).toEqual({ id: 'a', self: '[circular]' });
  });
});
