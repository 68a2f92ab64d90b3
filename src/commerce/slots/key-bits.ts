/**
 * A set of person keys as a bitmap: one bit per key. Person keys are dense integers handed out
 * in ranges from 1 (store/key-ranges.ts), so 10M people take 1.25 MB per segment, a lookup is
 * one array read, and entries/exits from segment changes are single bit flips. A `Set<number>`
 * of 1M keys takes ~40 MB and is several times slower to probe.
 */
export class KeyBits {
  private words: Uint32Array;
  private count = 0;

  constructor(expectedMaxKey = 0) {
    this.words = new Uint32Array((expectedMaxKey >>> 5) + 1);
  }

  has(key: number): boolean {
    const w = key >>> 5;
    return w < this.words.length && (this.words[w]! & (1 << (key & 31))) !== 0;
  }

  add(key: number): void {
    const w = key >>> 5;
    if (w >= this.words.length) this.grow(w);
    const bit = 1 << (key & 31);
    if ((this.words[w]! & bit) === 0) {
      this.words[w]! |= bit;
      this.count++;
    }
  }

  delete(key: number): void {
    const w = key >>> 5;
    if (w >= this.words.length) return;
    const bit = 1 << (key & 31);
    if ((this.words[w]! & bit) !== 0) {
      this.words[w]! &= ~bit;
      this.count--;
    }
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held, for the memory figures of the benchmark. */
  get bytes(): number {
    return this.words.byteLength;
  }

  /** Doubles (at least) so that a run of new keys costs amortised O(1). */
  private grow(word: number): void {
    if (word >= 2 ** 26) throw new RangeError(`person key ${word * 32} is beyond what a slot bitmap holds`);
    const next = new Uint32Array(Math.max(word + 1, this.words.length * 2));
    next.set(this.words);
    this.words = next;
  }
}
