/**
 * Stable random buckets (0–99) per person, for splits and holdouts. The same integer arithmetic
 * runs in JavaScript and in SQL on both engines, so a journey's A/B split and a segment's
 * `random_bucket` condition agree on every person.
 *
 * Multiplicative (Knuth) hashing of the person key plus a salt hash, modulo 2^32, scaled to 100.
 * Person keys stay far below 2^31, so `key * 2654435761` fits in a signed 64-bit integer.
 */
const MULTIPLIER = 2654435761n;
const MODULUS = 4294967296n;

/** FNV-1a of the salt: different salts give independent splits. */
export function saltHash(salt: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < salt.length; i++) {
    h ^= salt.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function bucketOf(userKey: number, salt = ''): number {
  const mixed = (BigInt(userKey) * MULTIPLIER + BigInt(saltHash(salt))) % MODULUS;
  return Number((mixed * 100n) / MODULUS);
}

/** The same bucket as SQL over an integer column; `saltParam` is a placeholder bound to `saltHash(salt)`. */
export function bucketSql(column: string, saltParam: string): string {
  return `CAST(floor(((${column} * 2654435761 + ${saltParam}) % 4294967296) * 100 / 4294967296.0) AS INTEGER)`;
}
