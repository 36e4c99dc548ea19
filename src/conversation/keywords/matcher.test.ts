import { describe, expect, it } from 'vitest';
import { compileMatcher, inWindow, requiredLiteral, type MatchRule } from './matcher.js';
import { checkRegex } from './regex-safety.js';

const rule = (id: string, match: MatchRule['match'], pattern: string, priority = 0, extra: Partial<MatchRule> = {}) =>
  ({ id, match, pattern, priority, answer: id, ...extra }) as MatchRule<string>;

describe('keyword matcher', () => {
  it('matches each type, and the highest priority wins, then the more specific type', () => {
    const m = compileMatcher([
      rule('exact', 'exact', '净值'),
      rule('prefix', 'prefix', '查询'),
      rule('contains', 'contains', '基金'),
      rule('regex', 'regex', '^\\d{6}$'),
      rule('urgent', 'contains', '投诉', 10),
    ]);
    expect(m.match('净值')?.id).toBe('exact');
    expect(m.match(' 查询余额 ')?.id).toBe('prefix');
    expect(m.match('我想买基金')?.id).toBe('contains');
    expect(m.match('110011')?.id).toBe('regex');
    expect(m.match('查询基金')?.id).toBe('prefix'); // same priority: prefix is more specific than contains
    expect(m.match('查询投诉进度')?.id).toBe('urgent');
    expect(m.match('hello')).toBeUndefined();
  });

  it('compares in NFKC lower case, so full-width and capitals match', () => {
    const m = compileMatcher([rule('nav', 'exact', 'NAV'), rule('one', 'exact', '1')]);
    expect(m.match('ｎａｖ')?.id).toBe('nav');
    expect(m.match('１')?.id).toBe('one');
  });

  it('skips tier rules for other tiers and rules outside their Shanghai window', () => {
    const m = compileMatcher([
      rule('vip', 'exact', '顾问', 5, { tiers: ['vip'] }),
      rule('all', 'exact', '顾问'),
      rule('night', 'exact', '值班', 0, { window: { from: '22:00', to: '06:00' } }),
    ]);
    expect(m.match('顾问', { tier: 'vip' })?.id).toBe('vip');
    expect(m.match('顾问', { tier: 'standard' })?.id).toBe('all');
    expect(m.match('值班', { now: new Date('2026-01-05T15:00:00Z') })?.id).toBe('night'); // 23:00 Shanghai
    expect(m.match('值班', { now: new Date('2026-01-05T04:00:00Z') })).toBeUndefined(); // 12:00 Shanghai
  });

  it('reads windows by Shanghai weekday, a window past midnight belonging to the day it opened', () => {
    const weekdays = { days: [1, 2, 3, 4, 5], from: '09:00', to: '17:30' };
    expect(inWindow(weekdays, new Date('2026-01-05T01:00:00Z'))).toBe(true); // Mon 09:00
    expect(inWindow(weekdays, new Date('2026-01-04T01:00:00Z'))).toBe(false); // Sun
    expect(inWindow(weekdays, new Date('2026-01-05T09:30:00Z'))).toBe(false); // Mon 17:30
    const friNight = { days: [5], from: '22:00', to: '02:00' };
    expect(inWindow(friNight, new Date('2026-01-09T17:00:00Z'))).toBe(true); // Sat 01:00, opened Friday
    expect(inWindow(friNight, new Date('2026-01-10T17:00:00Z'))).toBe(false); // Sun 01:00
  });

  it('refuses regular expressions that backtrack catastrophically and leaves them out', () => {
    for (const bad of ['(a+)+$', '(\\w*)*x', '(a|aa)*b', '(.*a){2,}', '(x+x+)+y', '(a)\\1', '(?<=a)b', '([a-z]+)*$'])
      expect(checkRegex(bad).ok, bad).toBe(false);
    for (const good of ['^\\d{6}$', '^(基金|净值)\\s*\\d+$', '[a-z]+@x\\.com', '^(ab)?c+$'])
      expect(checkRegex(good).ok, good).toBe(true);
    const refused: string[] = [];
    const m = compileMatcher([rule('evil', 'regex', '(a+)+$')], (r) => refused.push(r.id));
    expect(refused).toEqual(['evil']);
    expect(m.size).toBe(0);
    const started = performance.now();
    expect(m.match(`${'a'.repeat(5000)}!`)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('finds every overlapping contains pattern', () => {
    const m = compileMatcher([
      rule('he', 'contains', 'he'),
      rule('she', 'contains', 'she', 1),
      rule('hers', 'contains', 'hers', 2),
    ]);
    expect(m.candidates('ushers').map((r) => r.id)).toEqual(['hers', 'she', 'he']);
  });
});

describe('regex prefilter', () => {
  it('finds the literal every match must contain, or none', () => {
    expect(requiredLiteral('^NAV\\s*\\d{6}$')).toBe('nav');
    expect(requiredLiteral('^基金代码[:：]?\\d+$')).toBe('基金代码');
    expect(requiredLiteral('abcd?e')).toBe('abc');
    expect(requiredLiteral('^(a|b)xyz')).toBe('xyz');
    expect(requiredLiteral('a|b')).toBeUndefined();
    expect(requiredLiteral('^\\d{6}$')).toBeUndefined();
    expect(requiredLiteral('x\\.y')).toBe('x.y');
  });

  it('still matches regex rules with and without a literal', () => {
    const m = compileMatcher([
      rule('code', 'regex', '^NAV\\s*\\d{6}$', 1),
      rule('digits', 'regex', '^\\d{6}$'),
      rule('alt', 'regex', '^(查询|看看)余额$'),
    ]);
    expect(m.match('nav 110011')?.id).toBe('code');
    expect(m.match('110011')?.id).toBe('digits');
    expect(m.match('看看余额')?.id).toBe('alt');
    expect(m.match('nav')).toBeUndefined();
  });
});
