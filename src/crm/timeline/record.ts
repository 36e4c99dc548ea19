/**
 * Recording an event about a customer: append to the timeline once, and only a new event runs the
 * auto-tagging rules (a retried delivery never fires them twice).
 */
import type { CrmDeps } from '../deps.js';
import { applyRules } from '../rules/service.js';
import { appendTimeline, type AppendResult, type TimelineInput } from './service.js';

/** Appends the event (idempotent by dedupKey) and runs the auto-tag rules for a new one. */
export async function recordEvent(deps: CrmDeps, input: TimelineInput): Promise<AppendResult & { rules: string[] }> {
  const result = await appendTimeline(deps, input);
  const rules = result.duplicate ? [] : await applyRules(deps, result.event);
  return { ...result, rules };
}
