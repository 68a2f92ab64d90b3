/** Charts made of block characters, for results an operator would rather see than read in a terminal. */

/** Eighth-block characters, so a bar's length is exact to 1/8 of a cell. */
const eighths = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A horizontal bar for `value` out of `max`, at most `width` characters. */
export function bar(value: number, max: number, width = 40): string {
  const n = max > 0 ? Math.round((value / max) * width * 8) : 0;
  return '█'.repeat(Math.floor(n / 8)) + (eighths[n % 8] as string);
}

const heights = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/** One character per value, as tall as the value is against the largest; a zero is a blank, so an empty day shows as one. */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values.map((v) => (v <= 0 || max === 0 ? ' ' : (heights[Math.min(7, Math.ceil((v / max) * 8) - 1)] as string))).join('');
}
