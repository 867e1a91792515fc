import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPS_ROUTES } from '../../../src/ops/routes.js';
import { waitFor } from '../../harness/pipeline.js';
import { runBuilt } from '../../harness/spawn-process.js';
import { ADMIN_TOKEN, READONLY_TOKEN, bearer, startOpsServer, type OpsServer } from '../ops/ops-server.js';

/**
 * One redaction policy (docs/operations.md, "What is masked where") for every output. A mapping file declares `data.email`
 * private (`"private": true`) and a custom field `income` private (the `"private": [...]` list);
 * events carry recognisable values in them, a card number and a token in a URL in ordinary
 * fields. One event is dead-lettered at the map stage (whole raw event kept for replay), one is
 * rejected by HTTP intake, one by `import`. Then every place a person or a file can read is
 * searched for the values: log lines, the dashboard's job views, the dead-letter routes, the
 * `dlq` CLI (list --json, list, show), the import rejects file, the intake answer and /metrics.
 */
const EMAIL = 'secret-email-7f3a@example.com';
const INCOME = 'secret-income-3c9d';
const CARD = '4111 1111 1111 1111';
const URL_TOKEN = 'tok-5e6f7a8b9c0d';
const SECRETS = [EMAIL, INCOME, CARD, CARD.replaceAll(' ', ''), URL_TOKEN];

/** The secret values found in `text` (empty: nothing leaked). */
function leaked(text: string): string[] {
  return SECRETS.filter((secret) => text.includes(secret));
}

const MAPPING = {
  mode: 'extend',
  events: {
    loan_application: {
      data: {
        applicationId: { type: 'string', required: true },
        email: { type: 'string', private: true },
        income: { type: 'number' },
        note: { type: 'string' },
        callback: { type: 'string' },
      },
      private: ['income'],
      attributes: { loanApplicationId: { from: 'data.applicationId' } },
    },
  },
};

/** An event of the custom type carrying the secret values; `data` overrides go on top. */
function application(id: string, visitor: string, data: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    type: 'loan_application',
    occurredAt: '2026-11-21T10:00:00.000Z',
    visitor: { mbox3rdPartyId: visitor },
    data: {
      applicationId: `A-${id}`,
      email: EMAIL,
      income: 52_000,
      note: `card ${CARD} on file`,
      callback: `https://crm.example.com/cb?access_token=${URL_TOKEN}&x=1`,
      ...data,
    },
  };
}

describe('a private field declared in the mapping file is masked on every output path', () => {
  let ops: OpsServer;
  let dir: string;
  let mappingFile: string;
  /** Every output, by path name, as text. */
  const outputs = new Map<string, string>();

  async function get(path: string, token = ADMIN_TOKEN): Promise<{ status: number; text: string }> {
    const res = await request(`${ops.url}${path}`, { headers: { authorization: bearer(token) } });
    return { status: res.statusCode, text: await res.body.text() };
  }

  async function cli(args: string[]): Promise<{ code: number | string; out: string }> {
    const proc = runBuilt(
      'src/cli.js',
      { REDIS_URL: ops.config.REDIS_URL, REDIS_PREFIX: ops.prefix, MAPPING_FILE: mappingFile },
      args,
    );
    const code = await proc.exited;
    return { code, out: proc.lines.join('\n') };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ti-private-'));
    mappingFile = join(dir, 'mapping.json');
    writeFileSync(mappingFile, JSON.stringify(MAPPING));
    ops = await startOpsServer({
      env: { MAPPING_FILE: mappingFile, DELIVERY_MODE: 'single' },
      roles: ['intake', 'map', 'flusher', 'deliver'],
      logLevel: 'trace',
    });
  });
  afterAll(async () => {
    await ops.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the events: one delivered, one dead-lettered at the map stage, one rejected by intake, one by import', async () => {
    // Accepted and delivered: private fields are validated, never mapped.
    const good = await request(`${ops.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([application('ok-1', 'CRM-OK')]),
    });
    expect(good.statusCode).toBe(202);
    await good.body.text();
    // Rejected at intake: the private field has the wrong type (the message must not quote it).
    const bad = await request(`${ops.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([application('bad-1', 'CRM-BAD', { income: INCOME, applicationId: 7 })]),
    });
    const answer = await bad.body.text();
    expect(bad.statusCode).toBe(400);
    expect(answer).toMatch(/income: expected a number, got a string \(value hidden: private field\)/);
    outputs.set('intake answer', answer);
    // Dead-lettered at the map stage: valid at intake, but the running mapping no longer takes
    // it (as a mapping change between intake and map would); the whole raw event is kept.
    await ops.pipeline.queues.ingest.add('events', {
      source: 'pos',
      receivedAt: Date.now(),
      events: [
        application('map-1', 'CRM-MAP', { income: INCOME, applicationId: undefined }),
        { ...application('map-2', 'CRM-MAP'), type: 'loan_application_v2' },
      ],
    });
    expect(await waitFor(() => ops.simulator.store.get('thirdPartyId', 'CRM-OK')?.loanApplicationId === 'A-ok-1')).toBe(
      true,
    );
    expect(await waitFor(async () => (await ops.pipeline.queues.deadLetter.count()) === 2, 20_000)).toBe(true);

    // Rejected by import: a bad record (its raw line goes to the rejects file) and an unreadable one.
    const file = join(dir, 'till.ndjson');
    writeFileSync(
      file,
      [
        JSON.stringify(application('imp-1', 'CRM-IMP')),
        JSON.stringify(application('imp-2', 'CRM-IMP', { applicationId: 9, income: INCOME })),
        `{"id":"imp-3","type":"loan_application","data":{"email":"${EMAIL}",`,
      ].join('\n') + '\n',
    );
    const imported = await cli(['import', file, '--source', 'till', '--json']);
    expect(imported.code).toBe(0);
    expect(imported.out).toMatch(/"rejected":2/);
    outputs.set('import output', imported.out);
    const rejects = readFileSync(`${file}.rejects.ndjson`, 'utf8');
    expect(rejects.trim().split('\n')).toHaveLength(2);
    expect(rejects).toContain('"line":2');
    outputs.set('import rejects file', rejects);
  });

  it('masks them in every output', async () => {
    // Dead letters over HTTP, for both tokens.
    const list = await get('/admin/dead-letters');
    expect(list.status).toBe(200);
    const page = JSON.parse(list.text) as { entries: Array<{ id: string; stage: string }> };
    expect(page.entries.map((e) => e.stage)).toEqual(['map', 'map']);
    outputs.set('GET /admin/dead-letters', list.text);
    outputs.set('GET /admin/dead-letters (read-only)', (await get('/admin/dead-letters', READONLY_TOKEN)).text);
    for (const { id } of page.entries) {
      const one = await get(`/admin/dead-letters/${id}`, READONLY_TOKEN);
      expect(one.status).toBe(200);
      expect(one.text).toContain('applicationId');
      outputs.set(`GET /admin/dead-letters/${id}`, one.text);
    }

    // The dlq CLI: list --json, list, show.
    const listed = await cli(['dlq', 'list', '--json']);
    expect(listed.code).toBe(0);
    outputs.set('dlq list --json', listed.out);
    const text = await cli(['dlq', 'list']);
    expect(text.code).toBe(0);
    outputs.set('dlq list', text.out);
    for (const { id } of page.entries) {
      const shown = await cli(['dlq', 'show', id]);
      expect(shown.code).toBe(0);
      expect(shown.out).toContain('applicationId');
      outputs.set(`dlq show ${id}`, shown.out);
    }

    // The dashboard: bull-board's job lists and one job, on both boards.
    for (const [base, token] of [
      [OPS_ROUTES.dashboard, ADMIN_TOKEN],
      [OPS_ROUTES.readonlyDashboard, READONLY_TOKEN],
    ] as const) {
      const queues = await get(`${base}/api/queues?activeQueue=dead-letter&status=latest&page=1&jobsPerPage=50`, token);
      expect(queues.status).toBe(200);
      expect(queues.text).toContain('applicationId');
      outputs.set(`dashboard ${base} dead-letter jobs`, queues.text);
      const job = await get(`${base}/api/queues/dead-letter/${page.entries[0]?.id ?? ''}`, token);
      expect(job.status).toBe(200);
      outputs.set(`dashboard ${base} one job`, job.text);
    }

    // Metrics: no values at all.
    const metrics = await request(`${ops.url}/metrics`);
    outputs.set('/metrics', await metrics.body.text());

    // Every log line the process wrote (at trace level).
    expect(ops.logLines.length).toBeGreaterThan(0);
    outputs.set('log lines', ops.logLines.join('\n'));

    const leaks = Object.fromEntries(
      [...outputs].map(([path, out]) => [path, leaked(out)] as const).filter(([, found]) => found.length > 0),
    );
    expect(leaks).toEqual({});
    // Masked, not dropped: the entries still say where a private value was.
    expect(outputs.get('GET /admin/dead-letters')).toContain('"email":"[redacted]"');
    expect(outputs.get('import rejects file')).toContain('"email":"[redacted]"');
  });
});
