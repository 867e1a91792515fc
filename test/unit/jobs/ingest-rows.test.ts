import { describe, expect, it } from 'vitest';
import { fromIngestRow, ingestEvents, openStoredRows, toIngestRow } from '../../../src/jobs/ingest-rows.js';

const loan = {
  id: 'L-1',
  type: 'loan_funded',
  occurredAt: '2026-12-07T10:00:00.000Z',
  visitor: { mboxPC: '1368007744041-575948.01_00' },
  data: { loanId: 'LN-9', amount: 12000 },
};

describe('ingest rows', () => {
  it('stores an event as [id, type, occurredAt, visitor, data] and reads it back equal, data left out when absent', () => {
    expect(toIngestRow(loan)).toEqual(['L-1', 'loan_funded', loan.occurredAt, loan.visitor, loan.data]);
    expect(fromIngestRow(toIngestRow(loan))).toEqual(loan);
    const { data: _data, ...bare } = loan;
    expect(toIngestRow(bare)).toHaveLength(4);
    expect(fromIngestRow(toIngestRow(bare))).toEqual(bare);
    // 42 fewer bytes of JSON per event than the object (the five property names).
    expect(JSON.stringify(loan).length - JSON.stringify(toIngestRow(loan)).length).toBe(42);
  });

  it('reads a malformed row as { row }, which has no envelope to trust: the row kept as stored', () => {
    for (const row of [['x', 'kiosk_visit'], [1, 2, 3, 4, 5, 6], 'text']) expect(fromIngestRow(row)).toEqual({ row });
  });

  it('reads the events of either form', () => {
    expect(ingestEvents({ rows: [toIngestRow(loan)] })).toEqual([loan]);
    expect(ingestEvents({ events: [loan] })).toEqual([loan]);
  });

  it('opens a whole job in rows that an older map worker dead-lettered as one event, for replay; leaves events alone', () => {
    const job = { source: 'pos', receivedAt: 1, rows: [toIngestRow(loan), toIngestRow({ ...loan, id: 'L-2' })] };
    expect(openStoredRows([job, loan])).toEqual([loan, { ...loan, id: 'L-2' }, loan]);
    // An event whose data happens to hold a `rows` list is an event, not a job.
    const odd = { ...loan, source: 'x', rows: [] };
    expect(openStoredRows([odd])).toEqual([odd]);
  });
});
