/**
 * The prize deck: every envelope a campaign can pay, drawn up once when the campaign is approved and
 * shuffled with a CSPRNG. Claim k takes envelope k, and a unique index lets each envelope be won once, so
 * the sum of what can ever be won is the deck's sum, which never exceeds the budget — by construction,
 * whatever Redis, retries or crashes do.
 */
import { randomInt } from 'node:crypto';

export type PrizeRule =
  | { kind: 'fixed'; amountFen: number; count: number }
  | { kind: 'random'; minFen: number; maxFen: number; count: number }
  | { kind: 'tiers'; tiers: { amountFen: number; count: number }[] };

/** WeChat Pay merchant transfers pay at least 0.30 yuan; larger single amounts need the user's real name. */
export const MIN_TRANSFER_FEN = 30;

export type DeckProblem = { field: string; problem: string };

/** Why a prize rule cannot be met within a budget (empty when it can). */
export function checkPrizeRule(rule: PrizeRule, budgetFen: number): DeckProblem[] {
  const problems: DeckProblem[] = [];
  const atLeast = (field: string, value: number, min: number) => {
    if (!Number.isInteger(value) || value < min) problems.push({ field, problem: `must be an integer ≥ ${min}` });
  };
  if (rule.kind === 'fixed') {
    atLeast('prize.amountFen', rule.amountFen, MIN_TRANSFER_FEN);
    atLeast('prize.count', rule.count, 1);
    if (rule.amountFen * rule.count > budgetFen)
      problems.push({ field: 'prize', problem: `${rule.count} × ${rule.amountFen} fen exceeds the budget` });
  } else if (rule.kind === 'random') {
    atLeast('prize.minFen', rule.minFen, MIN_TRANSFER_FEN);
    atLeast('prize.count', rule.count, 1);
    if (rule.maxFen < rule.minFen) problems.push({ field: 'prize.maxFen', problem: 'must be ≥ minFen' });
    if (rule.minFen * rule.count > budgetFen)
      problems.push({
        field: 'prize',
        problem: `${rule.count} envelopes of at least ${rule.minFen} fen exceed the budget`,
      });
  } else {
    if (rule.tiers.length === 0) problems.push({ field: 'prize.tiers', problem: 'at least one tier' });
    rule.tiers.forEach((t, i) => {
      atLeast(`prize.tiers.${i}.amountFen`, t.amountFen, MIN_TRANSFER_FEN);
      atLeast(`prize.tiers.${i}.count`, t.count, 1);
    });
    const total = rule.tiers.reduce((sum, t) => sum + t.amountFen * t.count, 0);
    if (total > budgetFen) problems.push({ field: 'prize', problem: `tiers total ${total} fen exceeds the budget` });
  }
  return problems;
}

function shuffle(values: number[]): number[] {
  for (let i = values.length - 1; i > 0; i -= 1) {
    const j = randomInt(i + 1);
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return values;
}

/**
 * Random amounts: every envelope gets the minimum, and what the budget allows beyond that is spread one
 * random share at a time under each envelope's cap, so the envelopes are exchangeable (each has the same
 * expected amount) and the total never passes the budget.
 */
function randomAmounts(minFen: number, maxFen: number, count: number, budgetFen: number): number[] {
  const amounts = new Array<number>(count).fill(minFen);
  const room = maxFen - minFen;
  if (room === 0) return amounts;
  // Expected total is the range's midpoint per envelope, trimmed to the budget.
  let spare = Math.min(budgetFen - minFen * count, Math.floor((room * count) / 2));
  for (let i = 0; i < count && spare > 0; i += 1) {
    const extra = Math.min(randomInt(room + 1), spare);
    amounts[i] = minFen + extra;
    spare -= extra;
  }
  return shuffle(amounts);
}

/** Draws up a deck; callers check the rule first (checkPrizeRule). */
export function buildDeck(rule: PrizeRule, budgetFen: number): number[] {
  if (checkPrizeRule(rule, budgetFen).length > 0) throw new Error('prize rule does not fit the budget');
  if (rule.kind === 'fixed') return new Array<number>(rule.count).fill(rule.amountFen);
  if (rule.kind === 'random') return randomAmounts(rule.minFen, rule.maxFen, rule.count, budgetFen);
  return shuffle(rule.tiers.flatMap((t) => new Array<number>(t.count).fill(t.amountFen)));
}
