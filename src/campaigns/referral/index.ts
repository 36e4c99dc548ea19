/** Referral campaigns: the public surface for routes, gateway handlers, jobs and the composition root. */
export * from './service.js';
export * from './codes.js';
export * from './code-image.js';
export * from './attribution.js';
export * from './settlement.js';
export * from './report.js';
export { CUSTOMER_WORDING, REFERRAL_ERRORS, type ReferralErrorCode } from './errors.js';
export type { Reward, QualifyingAction, ReferralState } from './model.js';
