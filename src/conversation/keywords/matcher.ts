/**
 * The keyword matcher: rules compiled in memory into one structure per match type, so a message costs a
 * Map lookup (exact), a trie walk (prefix), one Aho-Corasick pass (contains) and, last, the regular
 * expressions whose priority could still beat the best match found so far. Pure and synchronous: the
 * callback path never waits on storage for rules.
 */
import { checkRegex, MAX_REGEX_INPUT } from './regex-safety.js';

export const MATCH_TYPES = ['exact', 'prefix', 'contains', 'regex'] as const;
export type MatchType = (typeof MATCH_TYPES)[number];

/** Longer messages are cut before matching: nobody types a keyword past this. */
export const MAX_MESSAGE_LENGTH = 500;

/** Asia/Shanghai active hours: ISO weekdays (1 = Monday … 7 = Sunday) and HH:mm bounds (`to` may pass midnight). */
export interface ActiveWindow {
  days?: number[];
  from: string;
  to: string;
}

export interface MatchRule<A = unknown> {
  id: string;
  match: MatchType;
  pattern: string;
  /** Higher wins; ties go to the more specific match type (exact > prefix > contains > regex), then the id. */
  priority: number;
  /** Tiers the rule answers; absent = everyone. */
  tiers?: string[];
  window?: ActiveWindow;
  answer: A;
}

export interface Compiled<A> extends MatchRule<A> {
  rank: number;
}

const TYPE_RANK: Record<MatchType, number> = { exact: 3, prefix: 2, contains: 1, regex: 0 };

/** The form both rules and messages are compared in: NFKC (full-width → half-width), trimmed, lower case. */
export function normalizeText(text: string): string {
  return text.slice(0, MAX_MESSAGE_LENGTH).normalize('NFKC').trim().toLowerCase();
}

const SHANGHAI_OFFSET_MIN = 8 * 60; // China keeps no daylight saving time

/** Whether `at` falls inside the window, read in Asia/Shanghai. */
export function inWindow(window: ActiveWindow | undefined, at: Date): boolean {
  if (!window) return true;
  const local = new Date(at.getTime() + SHANGHAI_OFFSET_MIN * 60_000);
  const minute = local.getUTCHours() * 60 + local.getUTCMinutes();
  const isoDay = ((local.getUTCDay() + 6) % 7) + 1;
  const from = minutesOf(window.from);
  const to = minutesOf(window.to);
  if (from <= to) return (!window.days || window.days.includes(isoDay)) && minute >= from && minute < to;
  // Past midnight: the part after midnight belongs to the day the window opened.
  if (minute >= from) return !window.days || window.days.includes(isoDay);
  const openedOn = isoDay === 1 ? 7 : isoDay - 1;
  return minute < to && (!window.days || window.days.includes(openedOn));
}

export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

class TrieNode<A> {
  children = new Map<string, TrieNode<A>>();
  rules: Compiled<A>[] = [];
}

class AhoCorasick<A> {
  private readonly next: Array<Map<string, number>> = [new Map<string, number>()];
  private readonly fail: number[] = [0];
  /** Rules ending at a node, plus (after build) the nearest node on the fail chain that has any. */
  private readonly out: Compiled<A>[][] = [[]];
  private readonly dict: number[] = [-1];

  add(pattern: string, rule: Compiled<A>): void {
    let node = 0;
    for (const ch of pattern) {
      let to = this.next[node]!.get(ch);
      if (to === undefined) {
        to = this.next.length;
        this.next.push(new Map());
        this.fail.push(0);
        this.out.push([]);
        this.dict.push(-1);
        this.next[node]!.set(ch, to);
      }
      node = to;
    }
    this.out[node]!.push(rule);
  }

  build(): void {
    const queue: number[] = [];
    for (const to of this.next[0]!.values()) queue.push(to);
    for (let head = 0; head < queue.length; head++) {
      const node = queue[head]!;
      for (const [ch, to] of this.next[node]!) {
        let f = this.fail[node]!;
        while (f !== 0 && !this.next[f]!.has(ch)) f = this.fail[f]!;
        const candidate = this.next[f]!.get(ch);
        this.fail[to] = candidate !== undefined && candidate !== to ? candidate : 0;
        const target = this.fail[to];
        this.dict[to] = this.out[target]!.length > 0 ? target : this.dict[target]!;
        queue.push(to);
      }
    }
  }

  /** Every rule whose pattern occurs in the text (a rule may be reported more than once). */
  scan(text: string, found: (rule: Compiled<A>) => void): void {
    let node = 0;
    for (const ch of text) {
      while (node !== 0 && !this.next[node]!.has(ch)) node = this.fail[node]!;
      node = this.next[node]!.get(ch) ?? 0;
      for (let n = node; n > 0; n = this.dict[n]!) for (const r of this.out[n]!) found(r);
    }
  }
}

/**
 * A literal every match of the pattern must contain (the longest run of plain characters outside groups,
 * classes and optional parts), lower-cased; undefined when there is none (e.g. a top-level alternation).
 * Regex rules are tested only when their literal occurs in the message: a prefilter, as RE2 does.
 */
export function requiredLiteral(pattern: string): string | undefined {
  let depth = 0;
  let inClass = false;
  let best = '';
  let run = '';
  const flush = () => {
    if (run.length > best.length) best = run;
    run = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (inClass) {
      if (c === '\\') i++;
      else if (c === ']') inClass = false;
      continue;
    }
    let literal: string | undefined;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      i++;
      if (/[A-Za-z0-9]/.test(next)) {
        flush();
        continue;
      }
      literal = next;
    } else if (c === '[') {
      inClass = true;
      flush();
      continue;
    } else if (c === '(') {
      depth++;
      flush();
      continue;
    } else if (c === ')') {
      depth--;
      flush();
      continue;
    } else if (c === '|') {
      if (depth === 0) return undefined;
      flush();
      continue;
    } else if (c === '{') {
      const quantifier = /^\{\d+(,\d*)?\}/.exec(pattern.slice(i));
      if (quantifier) i += quantifier[0].length - 1;
      flush();
      continue;
    } else if ('.^$*+?}'.includes(c)) {
      flush();
      continue;
    } else literal = c;
    if (depth > 0) continue;
    const after = pattern[i + 1];
    if (after === '?' || after === '*' || (after === '{' && /^\{0[,}]/.test(pattern.slice(i + 1)))) {
      flush();
      continue;
    }
    run += literal;
    if (after === '+' || after === '{') flush();
  }
  flush();
  const literal = best.normalize('NFKC').toLowerCase();
  return literal.length > 0 ? literal : undefined;
}

export interface MatchOptions {
  now?: Date;
  /** Tier of the follower; rules restricted to tiers are skipped without it. */
  tier?: string;
}

export interface Matcher<A> {
  readonly size: number;
  /** Every rule answering the text at that time, best first (tiers not yet applied). */
  candidates(text: string, now?: Date): Compiled<A>[];
  /** The best rule for the text, time and tier, or undefined. */
  match(text: string, options?: MatchOptions): Compiled<A> | undefined;
}

function better<A>(a: Compiled<A>, b: Compiled<A>): number {
  return b.priority - a.priority || b.rank - a.rank || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Compiles rules; a regex rule that fails the safety check is left out (and reported through `refused`). */
export function compileMatcher<A>(
  rules: MatchRule<A>[],
  refused?: (rule: MatchRule<A>, reason: string) => void,
): Matcher<A> {
  const exact = new Map<string, Compiled<A>[]>();
  const trie = new TrieNode<A>();
  const contains = new AhoCorasick<A>();
  type RegexEntry = { rule: Compiled<A>; regex: RegExp };
  const literals = new AhoCorasick<A>();
  const regexOf = new Map<Compiled<A>, RegexEntry>();
  const unfiltered: RegexEntry[] = [];
  let size = 0;
  for (const rule of rules) {
    const compiled: Compiled<A> = { ...rule, rank: TYPE_RANK[rule.match] };
    const pattern = rule.match === 'regex' ? rule.pattern : normalizeText(rule.pattern);
    if (pattern.length === 0) {
      refused?.(rule, 'empty pattern');
      continue;
    }
    switch (rule.match) {
      case 'exact': {
        const list = exact.get(pattern) ?? [];
        list.push(compiled);
        exact.set(pattern, list);
        break;
      }
      case 'prefix': {
        let node = trie;
        for (const ch of pattern) {
          let child = node.children.get(ch);
          if (!child) {
            child = new TrieNode<A>();
            node.children.set(ch, child);
          }
          node = child;
        }
        node.rules.push(compiled);
        break;
      }
      case 'contains':
        contains.add(pattern, compiled);
        break;
      case 'regex': {
        const verdict = checkRegex(rule.pattern);
        if (!verdict.ok) {
          refused?.(rule, verdict.reason);
          continue;
        }
        const entry = { rule: compiled, regex: verdict.regex };
        const literal = requiredLiteral(rule.pattern);
        if (literal) {
          literals.add(literal, compiled);
          regexOf.set(compiled, entry);
        } else unfiltered.push(entry);
        break;
      }
    }
    size++;
  }
  contains.build();
  literals.build();
  unfiltered.sort((a, b) => better(a.rule, b.rule));

  function collect(text: string, now: Date, accept: (r: Compiled<A>) => boolean, firstOnly: boolean): Compiled<A>[] {
    const norm = normalizeText(text);
    const found: Compiled<A>[] = [];
    let best: Compiled<A> | undefined;
    const consider = (r: Compiled<A>) => {
      if (!inWindow(r.window, now) || !accept(r)) return;
      if (firstOnly) {
        if (!best || better(r, best) < 0) best = r;
      } else found.push(r);
    };
    for (const r of exact.get(norm) ?? []) consider(r);
    let node: TrieNode<A> | undefined = trie;
    for (const ch of norm) {
      node = node.children.get(ch);
      if (!node) break;
      for (const r of node.rules) consider(r);
    }
    contains.scan(norm, consider);
    const bounded = text.slice(0, MAX_REGEX_INPUT).normalize('NFKC').trim();
    let tested = unfiltered;
    if (regexOf.size > 0) {
      const hit = new Set<RegexEntry>();
      literals.scan(norm, (r) => hit.add(regexOf.get(r)!));
      if (hit.size > 0) tested = [...unfiltered, ...hit].sort((a, b) => better(a.rule, b.rule));
    }
    for (const { rule, regex } of tested) {
      // Sorted best first: once one cannot beat the best so far, none after it can.
      if (firstOnly && best && better(rule, best) > 0) break;
      if (regex.test(bounded)) consider(rule);
    }
    if (firstOnly) return best ? [best] : [];
    const unique = [...new Set(found)];
    return unique.sort(better);
  }

  return {
    size,
    candidates: (text, now = new Date()) => collect(text, now, () => true, false),
    match(text, options = {}) {
      const accept = (r: Compiled<A>) => !r.tiers || (options.tier !== undefined && r.tiers.includes(options.tier));
      return collect(text, options.now ?? new Date(), accept, true)[0];
    },
  };
}
