/**
 * Journey simulation (`shopflow simulate`): journeys run on the shop simulator in virtual time,
 * with simulated shoppers responding to what the journeys send. See docs/simulate.md.
 */
export { formatReport } from './format.ts';
export { checkJourneyFiles, type JourneyFile, readJourneyFile } from './journey-file.ts';
export type { JourneyReport, SimulationReport } from './report.ts';
export { responseTiming } from './responses.ts';
export { runJourneySimulation, type SimulationOptions, type SimulationResult } from './run.ts';
export type { SimEngine } from './temp-store.ts';
