// PLACEHOLDER: the benchmark helper replaces this file.
export interface BenchOptions {
  users?: number;
  events?: number;
  engines: ('duckdb' | 'postgres')[];
}

export type BenchResult = Record<string, unknown>;

export const benchmarkNames: string[] = [];

export async function runBenchmark(_name: string, _options: BenchOptions): Promise<BenchResult[]> {
  throw new Error('not implemented yet');
}
export function formatTable(r: unknown[]): string { return JSON.stringify(r); }
