import { describe, expect, it } from 'vitest';
import { compileCondition, ConditionError, resolveDate } from './conditions.js';

const now = new Date('2026-11-23T02:00:00Z'); // 10:00 in Shanghai
const attrs = [
  { key: 'risk_level', type: 'enum' as const, values: ['R1', 'R2', 'R3'] },
  { key: 'aum_fen', type: 'number' as const },
];

describe('the condition language', () => {
  it('resolves relative days at midnight Asia/Shanghai', () => {
    expect(resolveDate('T', now).toISOString()).toBe('2026-11-22T16:00:00.000Z');
    expect(resolveDate('T-1', now).toISOString()).toBe('2026-11-21T16:00:00.000Z');
    expect(resolveDate('T+2', now).toISOString()).toBe('2026-11-24T16:00:00.000Z');
    // 23:30 in Shanghai is still "today" there although it is another UTC hour.
    expect(resolveDate('T', new Date('2026-11-23T15:30:00Z')).toISOString()).toBe('2026-11-22T16:00:00.000Z');
    expect(resolveDate('2026-01-05', now).toISOString()).toBe('2026-01-04T16:00:00.000Z');
  });

  it('compiles fields, attributes and nesting into fixed paths and operators', () => {
    const plan = compileCondition(
      {
        all: [
          { field: 'tier', op: 'in', value: ['gold', 'vip'] },
          { attribute: 'aum_fen', op: 'gte', value: 1_000_000 },
          { not: { tag: 'churn-risk' } },
          { follows: 'default', since: 'T-1' },
        ],
      },
      attrs,
      now,
    );
    expect(plan).toEqual({
      kind: 'and',
      parts: [
        {
          kind: 'profiles',
          filter: { $and: [{ tier: { $in: ['gold', 'vip'] } }, { 'attributes.aum_fen': { $gte: 1_000_000 } }] },
        },
        { kind: 'not', part: { kind: 'tag', tagName: 'churn-risk' } },
        {
          kind: 'follows',
          filter: { account: 'default', firstSubscribedAt: { $gte: new Date('2026-11-21T16:00:00Z') } },
        },
      ],
    });
  });

  it.each([
    ['$where', { $where: 'sleep(1000)' }],
    ['an unknown field', { field: 'password', op: 'eq', value: 'x' }],
    ['an operator object as a value', { field: 'tier', op: 'eq', value: { $gt: '' } }],
    ['an unknown operator', { field: 'tier', op: 'regex', value: '.*' }],
    ['a dotted attribute key', { attribute: 'a.b', op: 'eq', value: 1 }],
    ['an undeclared attribute', { attribute: 'shoe_size', op: 'eq', value: 42 }],
    ['a value outside an enum', { attribute: 'risk_level', op: 'eq', value: 'R9' }],
    ['a string for a number', { attribute: 'aum_fen', op: 'gt', value: '100' }],
    ['gt on a string field', { field: 'tier', op: 'gt', value: 'a' }],
    ['in without a list', { field: 'tier', op: 'in', value: 'vip' }],
    ['extra keys', { field: 'tier', op: 'eq', value: 'vip', $comment: 'x' }],
    ['a bad relative date', { follows: 'default', since: 'yesterday' }],
    ['an empty all', { all: [] }],
  ])('refuses %s', (_name, condition) => {
    expect(() => compileCondition(condition, attrs, now)).toThrow(ConditionError);
  });
});
