import { describe, expect, it } from 'vitest';
import { CsvParser, CsvSyntaxError } from '../src/ingest/bulk/csv-reader.ts';

/** Parses `text` fed in pieces of the given lengths (the rest last), as a file arrives in chunks. */
function parse(text: string, pieces: readonly number[] = []): { line: number; cells: string[] }[] | string {
  const parser = new CsvParser();
  const out: { line: number; cells: string[] }[] = [];
  try {
    let at = 0;
    for (const n of pieces) {
      out.push(...parser.parse(text.slice(at, at + n)));
      at += n;
    }
    out.push(...parser.parse(text.slice(at)), ...parser.end());
    return out;
  } catch (err) {
    if (!(err instanceof CsvSyntaxError)) throw err;
    return `line ${err.line}: ${err.message}`;
  }
}

describe('CSV reader', () => {
  it('reads quoted cells, escaped quotes and line breaks inside quotes, numbering records by their first line', () => {
    const text = 'type,properties\ntrack,"{""a"":1,""b"":""x,y""}"\n\nidentify,"two\nlines"\r\npage,"three\r\nlines\nhere"\rlast,x"y';
    expect(parse(text)).toEqual([
      { line: 1, cells: ['type', 'properties'] },
      { line: 2, cells: ['track', '{"a":1,"b":"x,y"}'] },
      { line: 4, cells: ['identify', 'two\nlines'] },
      { line: 6, cells: ['page', 'three\r\nlines\nhere'] },
      { line: 9, cells: ['last', 'x"y'] },
    ]);
    expect(parse('a,""\n""\n')).toEqual([
      { line: 1, cells: ['a', ''] },
      { line: 2, cells: [''] },
    ]);
  });

  it('refuses text after a closing quote and a quote left open, naming the line', () => {
    expect(parse('a,b\n"x"y,1\n')).toBe('line 2: unexpected text after a closing quote');
    expect(parse('a,b\n1,"open\n\n')).toBe('line 2: a quoted cell is not closed');
  });

  it('reads the same records however the text is cut into chunks', () => {
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ['a', 'é', ' ', ',', '"', '""', '\n', '\r', '\r\n'];
    for (let t = 0; t < 3000; t++) {
      const text = Array.from({ length: rnd(40) }, () => alphabet[rnd(alphabet.length)]).join('');
      const whole = parse(text);
      const pieces = Array.from({ length: 1 + rnd(6) }, () => rnd(8));
      const chunked = parse(text, pieces);
      // An error may come after different records were returned; its line and message may not differ.
      expect(chunked, JSON.stringify({ text, pieces })).toEqual(whole);
    }
  });
});
