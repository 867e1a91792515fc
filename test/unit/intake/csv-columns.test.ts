import { describe, expect, it } from 'vitest';
import { resolveMapping } from '../../../src/events/index.js';
import { parseColumnMap, planColumns, rowToEvent } from '../../../src/intake/import/csv-columns.js';
import { ImportSetupError } from '../../../src/intake/import/records.js';

const mapping = resolveMapping({
  mode: 'extend',
  events: {
    survey: {
      data: {
        score: { type: 'number', required: true },
        promoter: { type: 'boolean' },
        answeredAt: { type: 'timestamp' },
      },
      attributes: { surveyScore: { from: 'data.score' } },
    },
  },
});
const header = [
  'id',
  'type',
  'occurredAt',
  'visitor.mboxPC',
  'data.score',
  'data.promoter',
  'data.answeredAt',
  'data.note',
];
const layout = planColumns(header, new Map());

describe('rowToEvent', () => {
  it('converts cells by the field types the event type declares; empty cells are absent', () => {
    expect(
      rowToEvent(
        layout,
        ['s-1', 'survey', '2026-11-21T10:00:00Z', 'pc-1', ' 9.5 ', 'TRUE', '2026-11-20T10:00:00Z', '42'],
        mapping,
      ),
    ).toEqual({
      event: {
        id: 's-1',
        type: 'survey',
        occurredAt: '2026-11-21T10:00:00Z',
        visitor: { mboxPC: 'pc-1' },
        data: { score: 9.5, promoter: true, answeredAt: '2026-11-20T10:00:00Z', note: '42' },
      },
    });
    expect(rowToEvent(layout, ['s-2', 'survey', '', '', '', '', '', ''], mapping)).toEqual({
      event: { id: 's-2', type: 'survey' },
    });
  });

  it('passes text that does not convert on as text, for validation to explain', () => {
    expect(rowToEvent(layout, ['s-3', 'survey', 'x', 'pc', '9,5', 'yes', '', ''], mapping)).toMatchObject({
      event: { data: { score: '9,5', promoter: 'yes' } },
    });
    // An unknown type has no declared fields: everything stays text.
    expect(rowToEvent(layout, ['s-4', 'other', 'x', 'pc', '9', 'true', '', ''], mapping)).toMatchObject({
      event: { data: { score: '9', promoter: 'true' } },
    });
  });

  it('refuses rows of the wrong width', () => {
    expect(rowToEvent(layout, ['s-5', 'survey'], mapping)).toEqual({ error: 'has 2 cells; the header has 8' });
  });
});

describe('parseColumnMap and planColumns', () => {
  it('renames and ignores columns', () => {
    const renames = parseColumnMap([
      'Receipt No=id',
      'Kind=type',
      'When=occurredAt',
      'Card=visitor.mbox3rdPartyId',
      'Till=',
    ]);
    const planned = planColumns(['Receipt No', 'Kind', 'When', 'Card', 'Till'], renames);
    expect(rowToEvent(planned, ['r1', 'kiosk_visit', 't', 'c1', 'T9'], mapping)).toEqual({
      event: { id: 'r1', type: 'kiosk_visit', occurredAt: 't', visitor: { mbox3rdPartyId: 'c1' } },
    });
  });

  it('refuses malformed --map options', () => {
    expect(() => parseColumnMap(['=id', 'nothing'])).toThrow(ImportSetupError);
  });
});
