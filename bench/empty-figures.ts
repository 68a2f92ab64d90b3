/** Every field of a result row, unset (a benchmark fills the ones it measures). */
export const emptyFigures = {
  seconds: null,
  eventsPerSecond: null,
  p50Ms: null,
  p95Ms: null,
  p99Ms: null,
  baselineSeconds: null,
  ratio: null,
  peakRssMb: null,
};
