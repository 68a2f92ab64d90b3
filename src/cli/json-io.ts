import { readFileSync } from 'node:fs';
import { AppError } from '../core/errors.ts';

/** A JSON file given to a command (`-` = stdin); a missing or malformed one is one clear error naming `what`. */
export function readJsonFile(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (err) {
    throw new AppError('invalid_json', `${what} ${file} is not a JSON file: ${(err as Error).message}`, 'file');
  }
}

/** A command's answer as indented JSON (`--json`), for scripts. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
