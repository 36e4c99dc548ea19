/**
 * The declared schema of custom attributes (the "data standard"): a value is stored only when it fits.
 */
import mongoose, { Schema, type Types } from 'mongoose';

export const ATTRIBUTE_TYPES = ['string', 'number', 'boolean', 'date', 'enum'] as const;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];

export interface AttributeDefDoc {
  _id: Types.ObjectId;
  key: string;
  label: string;
  type: AttributeType;
  allowedValues?: string[];
  createdAt: Date;
}
const attributeDefSchema = new Schema<AttributeDefDoc>(
  {
    key: { type: String, required: true },
    label: { type: String, required: true },
    type: { type: String, enum: ATTRIBUTE_TYPES, required: true },
    allowedValues: { type: [String], default: undefined },
    createdAt: { type: Date, default: () => new Date() },
  },
  { collection: 'crm_attribute_defs' },
);
attributeDefSchema.index({ key: 1 }, { unique: true });
export const AttributeDef = mongoose.model<AttributeDefDoc>('CrmAttributeDef', attributeDefSchema);
