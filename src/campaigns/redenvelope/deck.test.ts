import { describe, expect, it } from 'vitest';
import { buildDeck, checkPrizeRule } from './deck.js';

describe('prize decks', () => {
  it('never adds up to more than the budget, and keeps each random envelope in its range', () => {
    for (let run = 0; run < 200; run += 1) {
      const count = 1 + Math.floor(Math.random() * 300);
      const minFen = 30 + Math.floor(Math.random() * 100);
      const maxFen = minFen + Math.floor(Math.random() * 1000);
      const budgetFen = minFen * count + Math.floor(Math.random() * (maxFen - minFen + 1) * count);
      const deck = buildDeck({ kind: 'random', minFen, maxFen, count }, budgetFen);
      expect(deck).toHaveLength(count);
      expect(deck.reduce((s, a) => s + a, 0)).toBeLessThanOrEqual(budgetFen);
      for (const amount of deck) {
        expect(Number.isInteger(amount)).toBe(true);
        expect(amount).toBeGreaterThanOrEqual(minFen);
        expect(amount).toBeLessThanOrEqual(maxFen);
      }
    }
  });

  it('is fair: no position in the deck is richer than another on average', () => {
    const positions = 10;
    const sums = new Array<number>(positions).fill(0);
    const runs = 3000;
    for (let run = 0; run < runs; run += 1) {
      // A tight budget, so the naive "first come takes the most" would show.
      const deck = buildDeck({ kind: 'random', minFen: 100, maxFen: 1000, count: positions }, 3000);
      deck.forEach((a, i) => (sums[i]! += a));
    }
    const means = sums.map((s) => s / runs);
    const overall = means.reduce((a, b) => a + b, 0) / positions;
    for (const mean of means) expect(Math.abs(mean - overall) / overall).toBeLessThan(0.08);
  });

  it('lays out fixed and tiered prizes exactly', () => {
    expect(buildDeck({ kind: 'fixed', amountFen: 88, count: 5 }, 1000)).toEqual([88, 88, 88, 88, 88]);
    const deck = buildDeck(
      {
        kind: 'tiers',
        tiers: [
          { amountFen: 10_000, count: 1 },
          { amountFen: 500, count: 10 },
          { amountFen: 100, count: 100 },
        ],
      },
      30_000,
    );
    expect(deck).toHaveLength(111);
    expect(deck.filter((a) => a === 10_000)).toHaveLength(1);
    expect(deck.reduce((s, a) => s + a, 0)).toBe(25_000);
  });

  it('explains rules that do not fit the budget or WeChat Pay minimum', () => {
    expect(checkPrizeRule({ kind: 'fixed', amountFen: 100, count: 11 }, 1000)).toEqual([
      { field: 'prize', problem: '11 × 100 fen exceeds the budget' },
    ]);
    expect(checkPrizeRule({ kind: 'random', minFen: 10, maxFen: 5, count: 1 }, 1000).map((p) => p.field)).toEqual([
      'prize.minFen',
      'prize.maxFen',
    ]);
    expect(() => buildDeck({ kind: 'fixed', amountFen: 100, count: 11 }, 1000)).toThrow();
  });
});
