/**
 * CPU profiling of one measured phase (not the data generation around it), through the
 * inspector: `npm run bench -- --cpu-prof /tmp/prof` writes a .cpuprofile per run (open it in
 * Chrome DevTools) and prints the functions with the most self time to stderr.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export class PhaseProfiler {
  private readonly session = new Session();

  static async start(): Promise<PhaseProfiler> {
    const p = new PhaseProfiler();
    p.session.connect();
    await p.session.post('Profiler.enable');
    await p.session.post('Profiler.setSamplingInterval', { interval: 500 });
    await p.session.post('Profiler.start');
    return p;
  }

  /** Stops, writes `<dir>/<name>.cpuprofile` and returns a short summary. */
  async stop(dir: string, name: string): Promise<string> {
    const { profile } = (await this.session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    this.session.disconnect();
    const file = join(dir, `${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return `CPU profile ${file}\n${summarize(profile)}`;
  }
}

/** Self time per function and per source file, as % of the profiled wall time. */
export function summarize(profile: CpuProfile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, ProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = profile.endTime - profile.startTime;
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  const where = (url: string) => {
    const path = url.replace(/^file:\/\//, '');
    const nm = path.lastIndexOf('node_modules/');
    if (nm >= 0)
      return path
        .slice(nm + 13)
        .split('/')
        .slice(0, path.slice(nm + 13).startsWith('@') ? 2 : 1)
        .join('/');
    return path ? relative(process.cwd(), path) : '(native/engine)';
  };
  for (const [id, us] of selfUs) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    // Native code without a name (e.g. DuckDB binding calls) is shown under its JS caller.
    const caller = !f.url && !f.functionName ? parentOf.get(id)?.callFrame : undefined;
    const file = where(caller?.url ?? f.url);
    // tsx emits each TypeScript file on one line, so only the function name identifies it.
    const fn = caller ? `(native) in ${caller.functionName || '(anonymous)'}  ${file}` : `${f.functionName || '(anonymous)'}  ${file}`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    files.set(file, (files.get(file) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `  ${pct(us)}  ${k}`)
      .join('\n');
  return `self time by function (of ${(total / 1e6).toFixed(1)} s wall):\n${list(fns, top)}\nself time by file / package:\n${list(files, 15)}`;
}
