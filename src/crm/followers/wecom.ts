/**
 * WeCom external contacts (客户联系 change_external_contact events): the external_userid is an identity,
 * and WeCom's unionid for the contact links them to the same person as their official-account follows.
 */
import type { CrmDeps } from '../deps.js';
import { identityOf, resolveProfile, type IdentityInput } from '../identities/service.js';
import { recordEvent } from '../timeline/record.js';

export interface WecomContactInput {
  eventId: string;
  corp: string;
  externalUserId: string;
  unionid?: string;
  kind: 'add_external_contact' | 'edit_external_contact' | 'del_external_contact' | 'del_follow_user';
  /** The staff member's WeCom userid the contact was added by. */
  staffUserId?: string;
  at: Date;
}

/** Records a WeCom contact event (idempotent by eventId), linking the contact to its profile. */
export async function recordWecomContact(
  deps: CrmDeps,
  input: WecomContactInput,
): Promise<{ profileId: string; duplicate: boolean }> {
  const source = `wecom:${input.corp}`;
  const identities: IdentityInput[] = [identityOf.externalUser(input.corp, input.externalUserId)];
  if (input.unionid) identities.push(identityOf.unionid(input.unionid));
  const { profileId } = await resolveProfile(deps, { identities, source, seed: { stage: 'lead' } });
  const { duplicate } = await recordEvent(deps, {
    profileId,
    type: `wecom.${input.kind}`,
    at: input.at,
    source,
    payload: { externalUserId: input.externalUserId, ...(input.staffUserId ? { staffUserId: input.staffUserId } : {}) },
    dedupKey: `wecom:${input.corp}:${input.eventId}`,
  });
  return { profileId: profileId.toHexString(), duplicate };
}
