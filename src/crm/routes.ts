/**
 * The CRM's admin API (/admin/api/crm/…), declared with the staff conventions: permission per route,
 * audited writes, the caller's data scope applied inside every profile query (a profile outside it is
 * "not found"), phones masked in every response.
 */
import { z } from 'zod';
import { DomainError } from '../infra/errors.js';
import { adminRoute, IdParams, type AdminRoute, type Principal } from '../staff/index.js';
import { toObjectId, type Crm, type ProfileQuery } from './index.js';
import {
  AttributeDefBody,
  AttributesBody,
  ChunkBody,
  ConsentBody,
  CreateImportBody,
  CreateTagBody,
  CsvStream,
  DecideBody,
  ExportQuery,
  ImportReportQuery,
  ImportReportView,
  MergeBody,
  ProfileItem,
  ProfileSearchQuery,
  ProfileTagParams,
  ProfileViewSchema,
  ReviewQuery,
  RuleBody,
  RulePatchBody,
  RuleView,
  SourceBody,
  TagBody,
  TagGroupBody,
  TierBody,
  TimelinePageSchema,
  TimelineQuery,
  UpdateProfileBody,
  VerificationBody,
  WechatTagBody,
} from './schemas.js';
import type { AutoTagRuleDoc } from './rules/model.js';

const tags = ['crm'];
const Ok = z.object({ ok: z.literal(true) });
const Loose = z.record(z.string(), z.unknown());

function toQuery(q: z.infer<typeof ExportQuery>): ProfileQuery {
  return {
    identity: q.identityKind && q.identity ? { kind: q.identityKind, value: q.identity } : undefined,
    name: q.name,
    phone: q.phone,
    tagId: q.tagId ? toObjectId(q.tagId) : undefined,
    tier: q.tier,
    stage: q.stage,
    ownerStaffId: q.ownerStaffId,
    region: q.region,
    attribute: q.attrKey && q.attrValue !== undefined ? { key: q.attrKey, value: q.attrValue } : undefined,
  };
}

const presentRule = (r: AutoTagRuleDoc) => ({
  id: String(r._id),
  name: r.name,
  active: r.active,
  eventType: r.eventType,
  conditions: r.conditions as unknown as Record<string, unknown>[],
  actions: r.actions as unknown as Record<string, unknown>[],
});

/** Staff may only place a profile with an owner inside their own scope ("own" scope: themselves). */
function assertOwnerAllowed(p: Principal, ownerStaffId: string | null | undefined): void {
  if (ownerStaffId !== undefined && p.scope.own && ownerStaffId !== p.staffId)
    throw new DomainError('forbidden', 'out_of_scope', 'You can only assign customers to yourself.');
}

export function crmAdminRoutes(crm: Crm): AdminRoute[] {
  const id = (s: string) => toObjectId(s);
  return [
    adminRoute(
      {
        method: 'get',
        path: '/crm/profiles',
        permission: 'customer:read',
        tags,
        summary: 'Search customer profiles in your data scope (identity, name, phone, tag, tier, attribute)',
        query: ProfileSearchQuery,
        response: z.object({ items: z.array(ProfileItem), nextCursor: z.string().nullable() }),
      },
      async (call) => {
        const { limit, cursor, ...filters } = call.query;
        const page = await crm.profiles.search({ query: toQuery(filters), scope: call.principal, cursor, limit });
        return { items: page.profiles, nextCursor: page.nextCursor ?? null };
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/crm/profiles/export',
        permission: 'customer:export',
        tags,
        summary: 'Export the filtered profiles in your scope as CSV (streamed; phones masked; audited)',
        query: ExportQuery,
        response: CsvStream,
        audit: { action: 'crm.profiles_export', targetType: 'customer' },
      },
      async (call) => {
        call.audit.after = { filters: Object.keys(call.query) };
        return crm.profiles.exportCsv({
          query: toQuery(call.query),
          scope: call.principal,
          actor: call.principal.staffId,
        });
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/crm/profiles/:id',
        permission: 'customer:read',
        tags,
        summary: 'A profile with identities, follows, tags, consent, verifications, merges and recent timeline',
        params: IdParams,
        response: ProfileViewSchema,
      },
      async (call) =>
        (await crm.profiles.view({ profileId: id(call.params.id), scope: call.principal })) as unknown as z.input<
          typeof ProfileViewSchema
        >,
    ),
    adminRoute(
      {
        method: 'get',
        path: '/crm/profiles/:id/timeline',
        permission: 'customer:read',
        tags,
        summary: 'A profile’s timeline, newest first',
        params: IdParams,
        query: TimelineQuery,
        response: TimelinePageSchema,
      },
      async (call) => {
        await crm.profiles.assertInScope(id(call.params.id), call.principal);
        const page = await crm.timeline.list({
          profileId: id(call.params.id),
          cursor: call.query.cursor,
          limit: call.query.limit,
          types: call.query.types?.split(',').filter(Boolean),
        });
        return { items: page.events as unknown as Record<string, unknown>[], nextCursor: page.nextCursor ?? null };
      },
    ),
    adminRoute(
      {
        method: 'patch',
        path: '/crm/profiles/:id',
        permission: 'customer:write',
        tags,
        summary: 'Edit profile fields (name, gender, region, stage, owner, phone)',
        params: IdParams,
        body: UpdateProfileBody,
        response: ProfileItem,
        audit: { action: 'crm.profile_update', targetType: 'customer' },
      },
      async (call) => {
        assertOwnerAllowed(call.principal, call.body.ownerStaffId);
        const after = await crm.profiles.update({
          profileId: id(call.params.id),
          patch: call.body,
          by: call.principal.staffId,
          scope: call.principal,
        });
        call.audit.after = { fields: Object.keys(call.body) };
        return after;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/profiles/:id/tier',
        permission: 'customer:write',
        tags,
        summary: 'Change the tier (recorded with the reason)',
        params: IdParams,
        body: TierBody,
        response: ProfileItem,
        audit: { action: 'crm.profile_tier', targetType: 'customer' },
      },
      async (call) => {
        const after = await crm.profiles.changeTier({
          profileId: id(call.params.id),
          tier: call.body.tier,
          reason: call.body.reason,
          by: call.principal.staffId,
          scope: call.principal,
        });
        call.audit.after = { tier: after.tier };
        return after;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/profiles/:id/tags',
        permission: 'tag:manage',
        tags,
        summary: 'Tag a profile',
        params: IdParams,
        body: TagBody,
        response: Ok,
        audit: { action: 'crm.profile_tag', targetType: 'customer' },
      },
      async (call) => {
        await crm.profiles.assertInScope(id(call.params.id), call.principal);
        await crm.tags.add({
          profileId: id(call.params.id),
          tagId: id(call.body.tagId),
          source: `staff:${call.principal.staffId}`,
        });
        call.audit.after = { tagId: call.body.tagId };
        return { ok: true as const };
      },
    ),
    adminRoute(
      {
        method: 'delete',
        path: '/crm/profiles/:id/tags/:tagId',
        permission: 'tag:manage',
        tags,
        summary: 'Remove a tag from a profile',
        params: ProfileTagParams,
        audit: { action: 'crm.profile_untag', targetType: 'customer' },
      },
      async (call) => {
        await crm.profiles.assertInScope(id(call.params.id), call.principal);
        await crm.tags.remove({
          profileId: id(call.params.id),
          tagId: id(call.params.tagId),
          source: `staff:${call.principal.staffId}`,
        });
        call.audit.before = { tagId: call.params.tagId };
      },
    ),
    adminRoute(
      {
        method: 'put',
        path: '/crm/profiles/:id/attributes',
        permission: 'customer:write',
        tags,
        summary: 'Set custom attributes (checked against the declared schema)',
        params: IdParams,
        body: AttributesBody,
        response: Ok,
        audit: { action: 'crm.profile_attributes', targetType: 'customer' },
      },
      async (call) => {
        await crm.profiles.assertInScope(id(call.params.id), call.principal);
        await crm.attributes.set({ profileId: id(call.params.id), values: call.body.values });
        call.audit.after = { keys: Object.keys(call.body.values) };
        return { ok: true as const };
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/profiles/:id/verifications',
        permission: 'customer:write',
        tags,
        summary: 'Record an identity verification (e.g. qualified investor): status, method, expiry',
        params: IdParams,
        body: VerificationBody,
        response: Loose,
        status: 201,
        audit: { action: 'crm.profile_verify', targetType: 'customer' },
      },
      async (call) => {
        const v = await crm.profiles.recordVerification({
          profileId: id(call.params.id),
          kind: call.body.kind,
          status: call.body.status,
          method: call.body.method,
          expiresAt: call.body.expiresAt ? new Date(call.body.expiresAt) : undefined,
          by: call.principal.staffId,
          scope: call.principal,
        });
        call.audit.after = { kind: v.kind, status: v.status };
        return v as unknown as Record<string, unknown>;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/profiles/:id/consent',
        permission: 'customer:write',
        tags,
        summary: 'Record marketing consent or opt-out for a channel',
        params: IdParams,
        body: ConsentBody,
        response: Ok,
        audit: { action: 'crm.profile_consent', targetType: 'customer' },
      },
      async (call) => {
        const profileId = id(call.params.id);
        await crm.profiles.assertInScope(profileId, call.principal);
        const change = {
          subject: { profileId },
          channel: call.body.channel,
          source: `staff:${call.principal.staffId}`,
          reason: call.body.reason,
        };
        if (call.body.allowed) await crm.consent.optIn(change);
        else await crm.consent.optOut(change);
        call.audit.after = { channel: call.body.channel, allowed: call.body.allowed };
        return { ok: true as const };
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/merges',
        permission: 'customer:merge',
        tags,
        summary: 'Merge one profile into another (recorded, reversible)',
        body: MergeBody,
        response: Loose,
        status: 201,
        audit: { action: 'crm.profile_merge', targetType: 'customer' },
      },
      async (call) => {
        await crm.profiles.assertInScope(id(call.body.sourceId), call.principal);
        await crm.profiles.assertInScope(id(call.body.targetId), call.principal);
        const m = await crm.identities.merge({
          sourceId: id(call.body.sourceId),
          targetId: id(call.body.targetId),
          reason: call.body.reason,
          by: call.principal.staffId,
        });
        call.audit.targetId = call.body.targetId;
        call.audit.after = { mergeId: String(m._id), sourceId: call.body.sourceId };
        return { id: String(m._id), sourceId: call.body.sourceId, targetId: call.body.targetId };
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/merges/:id/undo',
        permission: 'customer:merge',
        tags,
        summary: 'Undo a merge',
        params: IdParams,
        audit: { action: 'crm.profile_unmerge', targetType: 'merge' },
      },
      async (call) => {
        await crm.identities.unmerge({ mergeId: id(call.params.id), by: call.principal.staffId });
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/crm/reviews',
        permission: 'customer:merge',
        tags,
        summary: 'The link-review queue (conflicting identities), oldest first',
        query: ReviewQuery,
        response: z.object({ items: z.array(Loose) }),
      },
      async (call) => ({
        items: (await crm.identities.reviews({ status: call.query.status })) as unknown as Record<string, unknown>[],
      }),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/reviews/:id/decide',
        permission: 'customer:merge',
        tags,
        summary: 'Decide a queued conflict: merge or dismiss',
        params: IdParams,
        body: DecideBody,
        response: Loose,
        audit: { action: 'crm.review_decide', targetType: 'link_review' },
      },
      async (call) => {
        const r = await crm.identities.resolveReview({
          reviewId: id(call.params.id),
          decision: call.body.decision,
          targetId: call.body.targetId ? id(call.body.targetId) : undefined,
          by: call.principal.staffId,
        });
        call.audit.after = { decision: call.body.decision };
        return r as unknown as Record<string, unknown>;
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/crm/tags',
        permission: 'customer:read',
        tags,
        summary: 'Tag groups and their tags',
        response: z.object({ items: z.array(Loose) }),
      },
      async () => ({ items: (await crm.tags.list()) as unknown as Record<string, unknown>[] }),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/tag-groups',
        permission: 'tag:manage',
        tags,
        summary: 'Create a tag group',
        body: TagGroupBody,
        response: Loose,
        status: 201,
        audit: { action: 'crm.tag_group_create', targetType: 'tag_group' },
      },
      async (call) => {
        const g = await crm.tags.createGroup(call.body);
        call.audit.targetId = String(g._id);
        return { id: String(g._id), name: g.name, exclusive: g.exclusive };
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/tags',
        permission: 'tag:manage',
        tags,
        summary: 'Create a tag in a group',
        body: CreateTagBody,
        response: Loose,
        status: 201,
        audit: { action: 'crm.tag_create', targetType: 'tag' },
      },
      async (call) => {
        const t = await crm.tags.create({ groupId: id(call.body.groupId), name: call.body.name });
        call.audit.targetId = String(t._id);
        return { id: String(t._id), groupId: String(t.groupId), name: t.name };
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/tags/:id/wechat',
        permission: 'tag:manage',
        tags,
        summary: 'Mirror a tag to a WeChat user tag of an official account (two-way sync)',
        params: IdParams,
        body: WechatTagBody,
        response: Loose,
        audit: { action: 'crm.tag_link_wechat', targetType: 'tag' },
      },
      async (call) => {
        const t = await crm.tags.linkWechat({
          tagId: id(call.params.id),
          account: call.body.account,
          wechatTagId: call.body.wechatTagId,
        });
        return { id: String(t._id), wechat: t.wechat };
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/crm/attributes',
        permission: 'customer:read',
        tags,
        summary: 'The declared custom attributes',
        response: z.object({ items: z.array(Loose) }),
      },
      async () => ({ items: (await crm.attributes.list()) as unknown as Record<string, unknown>[] }),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/attributes',
        permission: 'customer:write',
        tags,
        summary: 'Declare a custom attribute (name, type, allowed values)',
        body: AttributeDefBody,
        response: Loose,
        status: 201,
        audit: { action: 'crm.attribute_define', targetType: 'attribute' },
      },
      async (call) => {
        const d = await crm.attributes.define(call.body);
        call.audit.targetId = d.key;
        return { key: d.key, label: d.label, type: d.type, allowedValues: d.allowedValues };
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/crm/rules',
        permission: 'tag:manage',
        tags,
        summary: 'Auto-tagging rules',
        response: z.object({ items: z.array(RuleView) }),
      },
      async () => ({ items: (await crm.rules.list()).map(presentRule) }),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/rules',
        permission: 'tag:manage',
        tags,
        summary: 'Create an auto-tagging rule (event or form answer → tag or attribute)',
        body: RuleBody,
        response: RuleView,
        status: 201,
        audit: { action: 'crm.rule_create', targetType: 'rule' },
      },
      async (call) => {
        const r = await crm.rules.create({ ...call.body, createdBy: call.principal.staffId });
        call.audit.targetId = String(r._id);
        return presentRule(r);
      },
    ),
    adminRoute(
      {
        method: 'patch',
        path: '/crm/rules/:id',
        permission: 'tag:manage',
        tags,
        summary: 'Change an auto-tagging rule',
        params: IdParams,
        body: RulePatchBody,
        response: RuleView,
        audit: { action: 'crm.rule_update', targetType: 'rule' },
      },
      async (call) => presentRule(await crm.rules.update({ ruleId: id(call.params.id), patch: call.body })),
    ),
    adminRoute(
      {
        method: 'delete',
        path: '/crm/rules/:id',
        permission: 'tag:manage',
        tags,
        summary: 'Delete an auto-tagging rule',
        params: IdParams,
        audit: { action: 'crm.rule_delete', targetType: 'rule' },
      },
      async (call) => {
        await crm.rules.delete(id(call.params.id));
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/sources',
        permission: 'staff:manage',
        tags,
        summary: 'Create an event-ingestion source; its API key is shown once',
        body: SourceBody,
        response: z.object({ id: z.string(), name: z.string(), apiKey: z.string() }),
        status: 201,
        audit: { action: 'crm.source_create', targetType: 'ingestion_source' },
      },
      async (call) => {
        const s = await crm.ingestion.createSource({ name: call.body.name, createdBy: call.principal.staffId });
        call.audit.targetId = s.id;
        return s;
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/sources/:id/deactivate',
        permission: 'staff:manage',
        tags,
        summary: 'Turn an ingestion source off (its key stops working at once)',
        params: IdParams,
        audit: { action: 'crm.source_deactivate', targetType: 'ingestion_source' },
      },
      async (call) => {
        await crm.ingestion.deactivateSource(id(call.params.id));
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/imports',
        permission: 'lead:manage',
        tags,
        summary: 'Start a CSV import (column mapping, dry run); then upload chunks and start it',
        body: CreateImportBody,
        response: ImportReportView,
        status: 201,
        audit: { action: 'crm.import_create', targetType: 'import' },
      },
      async (call) => {
        const job = await crm.imports.createUpload({ ...call.body, createdBy: call.principal.staffId });
        call.audit.targetId = String(job._id);
        return crm.imports.report(job._id);
      },
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/imports/:id/chunks',
        permission: 'lead:manage',
        tags,
        summary: 'Upload the next chunk of the CSV file (seq 0, 1, 2, …; retries are safe)',
        params: IdParams,
        body: ChunkBody,
        response: z.object({ received: z.number(), duplicate: z.boolean() }),
        audit: { action: 'crm.import_chunk', targetType: 'import' },
      },
      async (call) => crm.imports.appendChunk({ jobId: id(call.params.id), seq: call.body.seq, data: call.body.data }),
    ),
    adminRoute(
      {
        method: 'post',
        path: '/crm/imports/:id/start',
        permission: 'lead:manage',
        tags,
        summary: 'Run (or resume) the import on a worker',
        params: IdParams,
        response: ImportReportView,
        status: 202,
        audit: { action: 'crm.import_start', targetType: 'import' },
      },
      async (call) => {
        await crm.imports.start(id(call.params.id));
        return crm.imports.report(id(call.params.id));
      },
    ),
    adminRoute(
      {
        method: 'get',
        path: '/crm/imports/:id',
        permission: 'lead:manage',
        tags,
        summary: 'An import’s state, counts and per-row report',
        params: IdParams,
        query: ImportReportQuery,
        response: ImportReportView,
      },
      async (call) => crm.imports.report(id(call.params.id), call.query),
    ),
  ];
}
