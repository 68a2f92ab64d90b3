import { describe, expect, it } from 'vitest';
import { terminalProgress } from '../src/cli/progress.ts';

describe('progress without a terminal', () => {
  it('writes a line each time another tenth is done, with the true percentage', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const progress = terminalProgress(stream);
    progress.start('import: SQL validation', 6);
    for (let done = 0; done <= 6; done++) progress.update(done);
    expect(lines.map((l) => l.replace('import: SQL validation: ', ''))).toEqual([
      '0/6 (0%)\n',
      '1/6 (16%)\n',
      '2/6 (33%)\n',
      '3/6 (50%)\n',
      '4/6 (66%)\n',
      '5/6 (83%)\n',
      '6/6 (100%)\n',
    ]);
    lines.length = 0;
    progress.start('rows', 1000);
    for (let done = 0; done <= 1000; done += 7) progress.update(done);
    progress.update(1000);
    expect(lines).toHaveLength(11);
    expect(lines.at(-1)).toBe('rows: 1000/1000 (100%)\n');
  });
});
