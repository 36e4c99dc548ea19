/**
 * Auto-tagging: rules managed by staff, evaluated on each new timeline event (a form answer is the event
 * 'form.submitted' with payload.answers). Actions are idempotent (tags are unique rows), so a rule that
 * fires twice for one event changes nothing more.
 */
import { Types } from 'mongoose';
import { DomainError } from '../../infra/errors.js';
import { validateAttributes } from '../attributes/service.js';
import type { CrmDeps } from '../deps.js';
import { Profile } from '../profiles/model.js';
import { Tag } from '../tags/model.js';
import { addTag, removeTag } from '../tags/service.js';
import type { TimelineEventDoc } from '../timeline/model.js';
import { AutoTagRule, type AutoTagRuleDoc, type RuleAction, type RuleCondition } from './model.js';

export interface RuleInput {
  name: string;
  active?: boolean;
  eventType: string;
  conditions: RuleCondition[];
  actions: RuleAction[];
}

async function checkActions(actions: RuleAction[]): Promise<void> {
  if (actions.length === 0) throw new DomainError('invalid', 'rule_without_actions', 'A rule needs an action.');
  for (const a of actions) {
    if (a.type === 'set_attribute') await validateAttributes({ [a.key]: a.value });
    else if (!/^[0-9a-f]{24}$/i.test(a.tagId) || !(await Tag.exists({ _id: a.tagId })))
      throw new DomainError('invalid', 'unknown_tag', `No tag ${a.tagId}.`);
  }
}

/** Creates a rule after checking its tags exist and attribute values fit their schema. */
export async function createRule(_deps: CrmDeps, input: RuleInput & { createdBy: string }): Promise<AutoTagRuleDoc> {
  await checkActions(input.actions);
  return (await AutoTagRule.create({ active: true, ...input })).toObject();
}

/** Replaces a rule's definition. */
export async function updateRule(
  _deps: CrmDeps,
  input: { ruleId: Types.ObjectId; patch: Partial<RuleInput> },
): Promise<AutoTagRuleDoc> {
  if (input.patch.actions) await checkActions(input.patch.actions);
  const doc = await AutoTagRule.findByIdAndUpdate(
    input.ruleId,
    { $set: input.patch },
    { returnDocument: 'after' },
  ).lean();
  if (!doc) throw new DomainError('not_found', 'rule_not_found', 'No such rule.');
  return doc;
}

export async function deleteRule(_deps: CrmDeps, ruleId: Types.ObjectId): Promise<void> {
  const { deletedCount } = await AutoTagRule.deleteOne({ _id: ruleId });
  if (deletedCount === 0) throw new DomainError('not_found', 'rule_not_found', 'No such rule.');
}

export async function listRules(): Promise<AutoTagRuleDoc[]> {
  return AutoTagRule.find().sort({ createdAt: 1 }).lean();
}

function valueAt(event: Pick<TimelineEventDoc, 'type' | 'source' | 'payload'>, path: string): unknown {
  const [head, ...rest] = path.split('.');
  let current: unknown =
    head === 'type' ? event.type : head === 'source' ? event.source : head === 'payload' ? event.payload : undefined;
  for (const part of rest) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Whether one condition holds for the event. */
export function conditionHolds(
  event: Pick<TimelineEventDoc, 'type' | 'source' | 'payload'>,
  c: RuleCondition,
): boolean {
  const v = valueAt(event, c.path);
  switch (c.op) {
    case 'exists':
      return (v !== undefined && v !== null) === (c.value !== false);
    case 'eq':
      return Array.isArray(v) ? v.includes(c.value) : v === c.value;
    case 'ne':
      return Array.isArray(v) ? !v.includes(c.value) : v !== c.value;
    case 'in':
      return (
        Array.isArray(c.value) &&
        (Array.isArray(v) ? v.some((x) => (c.value as unknown[]).includes(x)) : (c.value as unknown[]).includes(v))
      );
    case 'contains':
      return typeof v === 'string' && typeof c.value === 'string'
        ? v.includes(c.value)
        : Array.isArray(v) && v.includes(c.value);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (typeof v !== 'number' || typeof c.value !== 'number') return false;
      return c.op === 'gt' ? v > c.value : c.op === 'gte' ? v >= c.value : c.op === 'lt' ? v < c.value : v <= c.value;
    }
  }
}

/** Runs the active rules for a new event against its profile; returns the names of the rules that fired. */
export async function applyRules(deps: CrmDeps, event: TimelineEventDoc): Promise<string[]> {
  const rules = await AutoTagRule.find({ active: true, eventType: { $in: [event.type, '*'] } }).lean();
  const fired: string[] = [];
  for (const rule of rules) {
    if (!rule.conditions.every((c) => conditionHolds(event, c))) continue;
    fired.push(rule.name);
    for (const action of rule.actions) {
      const source = `rule:${String(rule._id)}`;
      try {
        if (action.type === 'add_tag')
          await addTag(deps, { profileId: event.profileId, tagId: new Types.ObjectId(action.tagId), source });
        else if (action.type === 'remove_tag')
          await removeTag(deps, { profileId: event.profileId, tagId: new Types.ObjectId(action.tagId), source });
        else {
          const valid = await validateAttributes({ [action.key]: action.value });
          await Profile.updateOne(
            { _id: event.profileId },
            { $set: { [`attributes.${action.key}`]: valid[action.key] } },
          );
        }
      } catch (err) {
        // A rule pointing at a deleted tag must not block the event that triggered it.
        if (!(err instanceof DomainError)) throw err;
        deps.logger.warn({ ruleId: String(rule._id), code: err.code }, 'crm: auto-tag rule action skipped');
      }
    }
  }
  if (fired.length > 0)
    deps.logger.debug({ profileId: String(event.profileId), eventType: event.type, rules: fired }, 'crm: rules fired');
  return fired;
}
