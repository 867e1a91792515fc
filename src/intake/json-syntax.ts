/**
 * Says where and why a text is not valid JSON, without quoting any of it. `JSON.parse`'s
 * own messages in Node 20 quote a slice of the input ("…" is not valid JSON), which could
 * hold a card number; producers get a line, a column and the rule that was broken instead.
 */

/** Where a JSON text breaks: 1-based line and column (in UTF-16 units) and what was expected. */
export interface JsonSyntaxProblem {
  line: number;
  column: number;
  problem: string;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /[0-9a-fA-F]{4}/y;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

type Expect = 'value' | 'key' | 'colon' | 'next';

/**
 * Scans `text` as JSON (RFC 8259) and returns its first syntax problem, or `undefined` when
 * it is valid. Iterative, so deeply nested input cannot overflow the stack; only called
 * after `JSON.parse` failed.
 */
export function findJsonSyntaxProblem(text: string): JsonSyntaxProblem | undefined {
  const found = scan(text);
  return found === undefined ? undefined : { ...lineAndColumn(text, found.offset), problem: found.problem };
}

/** `expected ',' or '}' after a property value at line 3, column 17`. */
export function describeJsonSyntaxProblem(text: string): string {
  const found = findJsonSyntaxProblem(text);
  if (found === undefined) return 'not valid JSON';
  return `${found.problem} at line ${found.line}, column ${found.column}`;
}

function scan(text: string): { offset: number; problem: string } | undefined {
  const n = text.length;
  const stack: Array<'{' | '['> = [];
  let i = 0;
  let expect: Expect = 'value';
  const skipSpace = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      i += 1;
    }
  };
  const scanString = (): { offset: number; problem: string } | undefined => {
    i += 1; // the opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i += 1;
        return undefined;
      }
      if (c < 0x20)
        return { offset: i, problem: 'control character (such as a raw line break or tab) inside a string; escape it' };
      if (c === 0x5c) {
        const next = text[i + 1];
        if (next === 'u') {
          HEX4.lastIndex = i + 2;
          if (!HEX4.test(text)) return { offset: i, problem: 'invalid \\u escape in a string (expected 4 hex digits)' };
          i += 6;
          continue;
        }
        if (next === undefined || !ESCAPES.has(next)) return { offset: i, problem: 'invalid escape in a string' };
        i += 2;
        continue;
      }
      i += 1;
    }
    return { offset: i, problem: 'unterminated string (unexpected end of input)' };
  };

  for (;;) {
    skipSpace();
    if (i >= n) {
      return expect === 'next' && stack.length === 0 ? undefined : { offset: i, problem: 'unexpected end of input' };
    }
    const ch = text[i];
    switch (expect) {
      case 'value': {
        if (ch === '{' || ch === '[') {
          stack.push(ch);
          i += 1;
          skipSpace();
          if (text[i] === (ch === '{' ? '}' : ']')) {
            stack.pop();
            i += 1;
            expect = 'next';
          } else {
            expect = ch === '{' ? 'key' : 'value';
          }
          continue;
        }
        if (ch === '"') {
          const problem = scanString();
          if (problem !== undefined) return problem;
          expect = 'next';
          continue;
        }
        if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) {
          NUMBER.lastIndex = i;
          if (!NUMBER.test(text)) return { offset: i, problem: 'invalid number' };
          i = NUMBER.lastIndex;
          expect = 'next';
          continue;
        }
        const literal = ['true', 'false', 'null'].find((word) => text.startsWith(word, i));
        if (literal !== undefined) {
          i += literal.length;
          expect = 'next';
          continue;
        }
        return {
          offset: i,
          problem: 'expected a value (an object, array, string in double quotes, number, true, false or null)',
        };
      }
      case 'key': {
        if (ch !== '"') return { offset: i, problem: 'expected a property name in double quotes' };
        const problem = scanString();
        if (problem !== undefined) return problem;
        expect = 'colon';
        continue;
      }
      case 'colon':
        if (ch !== ':') return { offset: i, problem: "expected ':' after a property name" };
        i += 1;
        expect = 'value';
        continue;
      case 'next': {
        const top = stack.at(-1);
        if (top === undefined) return { offset: i, problem: 'unexpected data after the JSON value' };
        if (ch === ',') {
          i += 1;
          expect = top === '{' ? 'key' : 'value';
          continue;
        }
        if (ch === (top === '{' ? '}' : ']')) {
          stack.pop();
          i += 1;
          continue;
        }
        return {
          offset: i,
          problem:
            top === '{' ? "expected ',' or '}' after a property value" : "expected ',' or ']' after an array element",
        };
      }
    }
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let at = text.indexOf('\n'); at !== -1 && at < offset; at = text.indexOf('\n', at + 1)) {
    line += 1;
    lineStart = at + 1;
  }
  return { line, column: offset - lineStart + 1 };
}
