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

/**
 * RFC 4180 CSV: comma-separated, cells optionally in double quotes with "" for a quote, line
 * breaks (\n or \r\n) allowed inside quotes. Blank lines are skipped. Streamed, so a file of any
 * size is read in constant memory; `parse` returns the records complete so far.
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
    for (let i = 0; i < text.length; i++) {
      const ch = text[i]!;
      if (this.pendingCr) {
        this.pendingCr = false;
        if (ch === '\n') continue; // \r\n is one line break
      }
      if (this.inQuotes) {
        if (this.afterQuote) {
          this.afterQuote = false;
          if (ch === '"') {
            this.cell += '"';
            continue;
          }
          this.inQuotes = false; // that quote closed the cell; fall through to read `ch`
        } else if (ch === '"') {
          this.afterQuote = true;
          continue;
        } else {
          if (ch === '\n') this.line++;
          this.cell += ch;
          continue;
        }
      }
      if (ch === ',') {
        this.cells.push(this.cell);
        this.cell = '';
        this.quoted = false;
      } else if (ch === '\n' || ch === '\r') {
        if (ch === '\r') this.pendingCr = true;
        this.endRecord(out);
        this.line++;
        this.recordLine = this.line;
      } else if (ch === '"' && this.cell === '' && !this.quoted) {
        this.inQuotes = true;
        this.quoted = true;
      } else {
        if (this.quoted) throw new CsvSyntaxError(this.line, 'unexpected text after a closing quote');
        this.cell += ch;
      }
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
