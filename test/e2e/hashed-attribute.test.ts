import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMappingFile } from '../../src/events/index.js';
import { createProducer, type Producer } from '../../src/intake/producer.js';
import { deletePrefix, newRedis } from '../harness/context.js';
import { startTestPipeline, waitFor, type TestPipeline } from '../harness/pipeline.js';

const SALT = 'team-salt-0123456789abcdef';
const CUSTOMER = 'CUST-4711-RAW';
// Computed outside the pipeline: printf %s 'team-salt-0123456789abcdefCUST-4711-RAW' | sha256sum
const SALTED_HASH = '7469cd18625687e29402528586a3792903d1f554abe3b1590100296b9b1ee7c9';
// printf %s 'CUST-4711-RAW' | sha256sum
const PLAIN_HASH = '47354afd70cd7245928c44257b55e748a05b10bb0dc7e7fdbd90925551ef7f82';

describe('a hashed attribute: producer SDK → map → delivery → simulator', () => {
  let dir: string;
  let redis: Redis;
  let running: TestPipeline;
  let producer: Producer;
  /** Every request line the simulator logged (URL with the query string of single updates). */
  const requestLog: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ti-hash-e2e-'));
    const mappingFile = join(dir, 'mapping.json');
    writeFileSync(
      mappingFile,
      JSON.stringify({
        mode: 'extend',
        events: {
          branch_visit: {
            data: { branchId: { type: 'string', required: true }, customerId: { type: 'string', required: true } },
            attributes: {
              branchLastId: { from: 'data.branchId' },
              customerHash: { from: 'data.customerId', hash: 'sha256', salt: { env: 'TEAM_SALT' } },
              customerPlainHash: { from: 'data.customerId', hash: 'sha256' },
            },
          },
        },
      }),
    );
    redis = newRedis();
    running = await startTestPipeline({ MAPPING_FILE: mappingFile, TEAM_SALT: SALT }, undefined, {
      logger: { level: 'info', stream: { write: (line: string) => requestLog.push(line) } },
    });
    // The producer validates with the same file and holds no salt.
    producer = createProducer({
      connection: redis,
      prefix: running.prefix,
      source: 'branch',
      mapping: loadMappingFile(mappingFile),
    });
  });
  afterAll(async () => {
    await producer.close();
    await deletePrefix(redis, running.prefix);
    await running.close();
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reaches Target as the SHA-256 of salt + value, never as the raw value', async () => {
    const pcId = '1368007744041-575948.01_00';
    const results = await producer.sendMany([
      // A Target-issued id goes by single update (a GET carrying the values in its URL) ...
      {
        id: 'b-1',
        type: 'branch_visit',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mboxPC: pcId },
        data: { branchId: 'B1', customerId: CUSTOMER },
      },
      // ... a new third-party id by a bulk file.
      {
        id: 'b-2',
        type: 'branch_visit',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mbox3rdPartyId: 'CRM-HASH-1' },
        data: { branchId: 'B2', customerId: CUSTOMER },
      },
    ]);
    expect(results.accepted).toBe(2);

    const store = running.simulator.store;
    expect(await waitFor(() => store.get('pcId', pcId)?.branchLastId === 'B1')).toBe(true);
    expect(await waitFor(() => store.get('thirdPartyId', 'CRM-HASH-1')?.branchLastId === 'B2', 40_000)).toBe(true);
    const expected = { customerHash: SALTED_HASH, customerPlainHash: PLAIN_HASH };
    expect(store.get('pcId', pcId)).toEqual({ branchLastId: 'B1', ...expected });
    expect(store.get('thirdPartyId', 'CRM-HASH-1')).toEqual({ branchLastId: 'B2', ...expected });

    // What Target was sent: the hash in the single update's URL, the raw value and the salt nowhere.
    const sent = requestLog.join('\n');
    expect(sent).toContain(`profile.customerHash=${SALTED_HASH}`);
    expect(sent).not.toContain(CUSTOMER);
    expect(sent).not.toContain(SALT);
    expect(JSON.stringify([store.get('pcId', pcId), store.get('thirdPartyId', 'CRM-HASH-1')])).not.toContain(CUSTOMER);
  });
});
