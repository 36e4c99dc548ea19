/** Red-envelope campaigns: the public surface for routes, gateway handlers, jobs and the composition root. */
export * from './service.js';
export * from './payouts.js';
export { checkPrizeRule, buildDeck, type PrizeRule } from './deck.js';
export { CUSTOMER_WORDING, RED_ENVELOPE_ERRORS, type RedEnvelopeErrorCode } from './errors.js';
export { rebuildSlots, slotsLeft } from './slots.js';
