import { createRequire } from 'node:module';

/**
 * MJML for email bodies, compiled to HTML once when a template is saved (the compiler is
 * synchronous and takes milliseconds: too slow to run per message at thousands a second). Liquid
 * passes through MJML as text, so the compiled HTML is the template's Liquid source: put loops and
 * conditions inside `<mj-text>` or `<mj-raw>` (MJML would reject them between its elements).
 *
 * mjml-core with the standard components (mjml-preset-core) and validator, without the CLI.
 */
interface MjmlError {
  line: number;
  message: string;
  tagName: string;
}
interface MjmlCore {
  default: (
    source: string,
    options: { validationLevel: 'strict' | 'soft' | 'skip'; keepComments?: boolean },
  ) => { html: string; errors: MjmlError[] };
  components: Record<string, unknown>;
  assignComponents: (into: Record<string, unknown>, components: unknown[]) => void;
}
interface MjmlValidator {
  dependencies: Record<string, unknown>;
  assignDependencies: (into: Record<string, unknown>, deps: Record<string, unknown>) => void;
}

let compiler: MjmlCore['default'] | null = null;

/** Loaded on first use: the server starts without it, and most workspaces never write MJML. */
function load(): MjmlCore['default'] {
  if (compiler) return compiler;
  const require = createRequire(import.meta.url);
  const core = require('mjml-core') as MjmlCore;
  const presetModule = require('mjml-preset-core') as { default?: { components: unknown[]; dependencies: Record<string, unknown> } };
  const preset = (presetModule.default ?? presetModule) as { components: unknown[]; dependencies: Record<string, unknown> };
  const validator = require('mjml-validator') as MjmlValidator;
  core.assignComponents(core.components, preset.components);
  validator.assignDependencies(validator.dependencies, preset.dependencies);
  compiler = core.default;
  return compiler;
}

export type MjmlResult = { ok: true; html: string } | { ok: false; problems: { line: number; message: string }[] };

/** Compiles an MJML document strictly: any invalid element or attribute is a problem with its line. */
export function compileMjml(source: string): MjmlResult {
  if (!/^\s*<mjml[\s>]/.test(source)) return { ok: false, problems: [{ line: 1, message: 'an MJML document starts with <mjml>' }] };
  try {
    const out = load()(source, { validationLevel: 'strict', keepComments: false });
    return { ok: true, html: out.html };
  } catch (err) {
    // Strict validation throws with the errors attached.
    const errors = (err as { errors?: MjmlError[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) {
      return { ok: false, problems: errors.map((e) => ({ line: e.line, message: `${e.tagName}: ${e.message}` })) };
    }
    return { ok: false, problems: [{ line: 1, message: (err as Error).message }] };
  }
}
