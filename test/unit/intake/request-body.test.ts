import { describe, expect, it } from 'vitest';
import { findJsonSyntaxProblem } from '../../../src/intake/json-syntax.js';
import { BodyError, bodyFormatOf, parseBody } from '../../../src/intake/request-body.js';
import { firstInvalidUtf8Byte } from '../../../src/intake/utf8.js';

function bodyError(run: () => unknown): BodyError {
  try {
    run();
  } catch (error) {
    if (error instanceof BodyError) return error;
    throw error;
  }
  throw new Error('expected a BodyError');
}

describe('findJsonSyntaxProblem', () => {
  it('finds nothing wrong in valid JSON', () => {
    for (const text of ['{}', '[]', ' [1, -2.5e3, "a\\u00e9\\n", true, null, {"a": [ ]}] ', '"x"']) {
      expect(findJsonSyntaxProblem(text)).toBeUndefined();
      expect(() => JSON.parse(text) as unknown).not.toThrow();
    }
  });

  it('names the rule broken and its line and column', () => {
    expect(findJsonSyntaxProblem('{"a":1,}')).toEqual({
      line: 1,
      column: 8,
      problem: 'expected a property name in double quotes',
    });
    expect(findJsonSyntaxProblem('[1,\n 2\n 3]')).toEqual({
      line: 3,
      column: 2,
      problem: "expected ',' or ']' after an array element",
    });
    expect(findJsonSyntaxProblem('{"a" 1}')?.problem).toBe("expected ':' after a property name");
    expect(findJsonSyntaxProblem('{"a":1')?.problem).toBe('unexpected end of input');
    expect(findJsonSyntaxProblem('{"a":"x\ty"}')?.problem).toMatch(/^control character/);
    expect(findJsonSyntaxProblem('["\\x"]')?.problem).toBe('invalid escape in a string');
    expect(findJsonSyntaxProblem('[01]')?.problem).toBe("expected ',' or ']' after an array element");
    expect(findJsonSyntaxProblem('{} {}')?.problem).toBe('unexpected data after the JSON value');
    expect(findJsonSyntaxProblem("{'a': 1}")?.problem).toBe('expected a property name in double quotes');
  });

  it('scans deeply nested input without overflowing the stack', () => {
    const depth = 1_000_000;
    expect(findJsonSyntaxProblem('['.repeat(depth) + ']'.repeat(depth - 1))?.problem).toBe('unexpected end of input');
  });
});

describe('firstInvalidUtf8Byte', () => {
  it('is -1 for valid UTF-8 and the start of the first broken sequence otherwise', () => {
    expect(firstInvalidUtf8Byte(Buffer.from('Zürich 🏪'))).toBe(-1);
    expect(firstInvalidUtf8Byte(Buffer.from([0x61, 0xc3, 0x28]))).toBe(1);
    expect(firstInvalidUtf8Byte(Buffer.from([0x61, 0x62, 0xef, 0xbf, 0x41]))).toBe(2);
    expect(firstInvalidUtf8Byte(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0); // a UTF-16 surrogate
    expect(firstInvalidUtf8Byte(Buffer.from([0x61, 0xe2, 0x82]))).toBe(1); // cut short
  });
});

describe('bodyFormatOf', () => {
  it('takes JSON and NDJSON in UTF-8 only', () => {
    expect(bodyFormatOf('application/json')).toEqual({ format: 'json' });
    expect(bodyFormatOf('Application/JSON; charset="UTF-8"')).toEqual({ format: 'json' });
    expect(bodyFormatOf('application/x-ndjson')).toEqual({ format: 'ndjson' });
    expect(bodyFormatOf('text/csv')).toEqual({
      problem: '"text/csv" is not accepted; send application/json or application/x-ndjson',
    });
    expect(bodyFormatOf('application/json; charset=utf-16')).toEqual({
      problem: 'only UTF-8 bodies are accepted (charset=utf-8)',
    });
    expect(bodyFormatOf('<script>/x')).toEqual({
      problem: 'this Content-Type is not accepted; send application/json or application/x-ndjson',
    });
  });
});

describe('parseBody', () => {
  it('reads one object or an array, with positions', () => {
    expect(parseBody(Buffer.from('{"a":1}'), 'json', 10)).toEqual({ events: [{ a: 1 }], positions: [0], rejected: [] });
    expect(parseBody(Buffer.from('\uFEFF[{"a":1},2]'), 'json', 10)).toEqual({
      events: [{ a: 1 }, 2],
      positions: [0, 1],
      rejected: [],
    });
  });

  it('reads NDJSON line by line: blank lines skipped, bad lines rejected alone by line index', () => {
    const body = Buffer.concat([
      Buffer.from('{"a":1}\r\n\n{"a":\n'),
      Buffer.from([0x7b, 0xff, 0x7d, 0x0a]),
      Buffer.from('{"a":2}'),
    ]);
    expect(parseBody(body, 'ndjson', 10)).toEqual({
      events: [{ a: 1 }, { a: 2 }],
      positions: [0, 4],
      rejected: [
        { index: 2, errors: ['body: line 3 is not valid JSON: unexpected end of input at column 6'] },
        { index: 3, errors: ['body: line 4 is not valid UTF-8 (first bad byte at offset 1 of the line)'] },
      ],
    });
  });

  it('refuses bodies that cannot be read at all', () => {
    expect(bodyError(() => parseBody(Buffer.from('  '), 'json', 10)).code).toBe('EMPTY_BODY');
    expect(bodyError(() => parseBody(Buffer.from('\n\n'), 'ndjson', 10)).code).toBe('EMPTY_BODY');
    expect(bodyError(() => parseBody(Buffer.from('{"a":'), 'json', 10)).message).toBe(
      'request body is not valid JSON: unexpected end of input at line 1, column 6',
    );
    const tooMany = bodyError(() => parseBody(Buffer.from('1\n2\n3\n'), 'ndjson', 2));
    expect([tooMany.code, tooMany.status]).toEqual(['TOO_MANY_EVENTS', 413]);
    expect(bodyError(() => parseBody(Buffer.from('[1,2,3]'), 'json', 2)).status).toBe(413);
  });
});
