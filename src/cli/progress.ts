import { SingleBar } from 'cli-progress';

/** Progress of a long command. Library code reports through this; the CLI decides how to show it. */
export interface Progress {
  start(label: string, total: number): void;
  /** Sets the amount done so far (not an increment). */
  update(done: number): void;
  stop(): void;
}

export const silentProgress: Progress = { start() {}, update() {}, stop() {} };

/** A bar on stderr when it is a terminal; otherwise a line every ~10 % so CI logs stay short. */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    let bar: SingleBar | null = null;
    return {
      start(label, total) {
        bar = new SingleBar({
          format: `${label.padEnd(24)} [{bar}] {percentage}% | {value}/{total} | {eta_formatted} left`,
          stream,
          hideCursor: true,
        });
        bar.start(total, 0);
      },
      update: (done) => bar?.update(done),
      stop: () => bar?.stop(),
    };
  }
  let label = '';
  let total = 0;
  let lastTenth = -1;
  return {
    start(l, t) {
      label = l;
      total = t;
      lastTenth = -1;
    },
    update(done) {
      const tenth = total > 0 ? Math.floor((done / total) * 10) : 0;
      if (tenth > lastTenth) {
        lastTenth = tenth;
        // The percentage of `done`, not of the tenth that was crossed ("1/6 (16%)", not "(10%)").
        stream.write(`${label}: ${done}/${total} (${Math.floor((done / total) * 100)}%)\n`);
      }
    },
    stop() {},
  };
}
