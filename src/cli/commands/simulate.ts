import type { Command } from 'commander';

/** Placeholder: `shopflow simulate …` is being written. */
export function registerSimulate(_program: Command) {}
