import { randomBytes } from 'node:crypto';

/**
 * Crockford's base-32 alphabet: no I, L, O or U, so a code read aloud at a till or copied from an
 * SMS cannot be mistaken for another one.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** 13 characters of 5 random bits each: 65 bits, so guessing a valid code is hopeless. */
export const CODE_CHARS = 13;

/**
 * `count` fresh codes, from the operating system's CSPRNG. One byte per character, of which the
 * low 5 bits are used: 256 is a multiple of 32, so every character is uniform.
 */
export function generateCodes(count: number, prefix?: string): string[] {
  const bytes = randomBytes(count * CODE_CHARS);
  const codes: string[] = [];
  for (let i = 0; i < count; i++) {
    let code = '';
    for (let j = 0; j < CODE_CHARS; j++) code += ALPHABET[bytes[i * CODE_CHARS + j]! & 31];
    codes.push(prefix ? `${prefix}-${code}` : code);
  }
  return codes;
}

/** How shops write a code in events and people type it: case and surrounding spaces do not matter. */
export function normalizeCodeSql(expr: string): string {
  return `upper(trim(${expr}))`;
}
