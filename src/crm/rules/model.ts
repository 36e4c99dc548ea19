/**
 * Auto-tagging rules: when an event (or a form answer) matches, add or remove a tag or set an attribute.
 */
import mongoose, { Schema, type Types } from 'mongoose';

export const CONDITION_OPS = ['eq', 'ne', 'in', 'contains', 'exists', 'gt', 'gte', 'lt', 'lte'] as const;
export type ConditionOp = (typeof CONDITION_OPS)[number];

export interface RuleCondition {
  /** A path into the event: 'type', 'source' or 'payload.<field>[.<field>…]' (form answers: 'payload.answers.<q>'). */
  path: string;
  op: ConditionOp;
  value?: unknown;
}

export type RuleAction =
  | { type: 'add_tag'; tagId: string }
  | { type: 'remove_tag'; tagId: string }
  | { type: 'set_attribute'; key: string; value: unknown };

export interface AutoTagRuleDoc {
  _id: Types.ObjectId;
  name: string;
  active: boolean;
  /** The event type it listens to ('form.submitted', 'purchase', …); '*' for every type. */
  eventType: string;
  /** All must hold. */
  conditions: RuleCondition[];
  actions: RuleAction[];
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}
const ruleSchema = new Schema<AutoTagRuleDoc>(
  {
    name: { type: String, required: true },
    active: { type: Boolean, default: true },
    eventType: { type: String, required: true },
    conditions: { type: Schema.Types.Mixed, default: () => [] },
    actions: { type: Schema.Types.Mixed, default: () => [] },
    createdBy: { type: String, required: true },
  },
  { collection: 'crm_auto_tag_rules', timestamps: true },
);
// rulesFor(eventType) on every new timeline event.
ruleSchema.index({ active: 1, eventType: 1 });
export const AutoTagRule = mongoose.model<AutoTagRuleDoc>('CrmAutoTagRule', ruleSchema);
