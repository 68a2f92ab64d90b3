#!/usr/bin/env node
// Entry point for `npx shopflow`: registers tsx in this process and runs the TypeScript CLI, so
// there is no build step and no extra child process (signals reach the server directly).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
