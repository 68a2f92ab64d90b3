import { describe, expect, it } from 'vitest';
import { describeLift, liftEstimate } from '../src/journeys/index.ts';

const arm = (converted: number, people: number) => ({ people, converted, revenue: 0 });

describe('lift against the holdout', () => {
  it("gives Newcombe's published hybrid score intervals (Newcombe 1998, Table II, method 10)", () => {
    const cases: [number, number, number, number, number, number][] = [
      [56, 70, 48, 80, 0.0524, 0.3339],
      [9, 10, 3, 10, 0.1705, 0.809],
      [0, 10, 0, 20, -0.1611, 0.2775],
    ];
    for (const [ct, nt, cc, nc, lo, hi] of cases) {
      const [l, u] = liftEstimate(arm(ct, nt), arm(cc, nc))!.differenceCi95;
      expect(l).toBeCloseTo(lo, 4);
      expect(u).toBeCloseTo(hi, 4);
    }
  });

  it('does not call a lift significant because a small holdout happened to convert nobody', () => {
    // The seed-1 dormant-recall simulation: Wald gave +2.9 … +7.8 points; the truth was +0.9.
    const l = liftEstimate(arm(17, 319), arm(0, 35))!;
    expect(l.difference).toBeCloseTo(17 / 319, 10);
    expect(l.differenceCi95[0]).toBeLessThan(0);
    expect(l.significant).toBe(false);
    expect(l.relativeLift).toBeNull();
    // A large, clear effect still is.
    expect(liftEstimate(arm(300, 2_000), arm(20, 400))!.significant).toBe(true);
  });

  it('reads as one line, with the relative lift only when the holdout converted', () => {
    expect(describeLift(liftEstimate(arm(17, 319), arm(0, 35))!)).toBe(
      '+5.3 pts (95% CI −4.8 pts … +8.4 pts) — not significant [difference of proportions, Newcombe score 95% CI]',
    );
    expect(describeLift(liftEstimate(arm(300, 2_000), arm(20, 400))!)).toMatch(
      /^\+10\.0 pts \(95% CI \+\d+\.\d pts … \+\d+\.\d pts\), relative \+200% — significant \[/,
    );
    expect(liftEstimate(arm(0, 0), arm(1, 10))).toBeNull();
  });
});
