/**
 * The CRM's public surface: one profile per customer across accounts and channels. Other domains and the
 * integrator use only this (createCrm and the types below), never the models.
 */
import type { Types } from 'mongoose';
import type { AppConfig } from '../infra/config.js';
import type { Logger } from '../infra/logger.js';
import type { Redis } from '../infra/redis.js';
import * as attributes from './attributes/service.js';
import * as consent from './consent/service.js';
import type { CrmAudit, CrmDeps, FollowerInfoSource, ProfileScope, TierChanged, WechatTagSync } from './deps.js';
import * as followers from './followers/service.js';
import { recordWecomContact } from './followers/wecom.js';
import * as merges from './identities/merge.js';
import * as identities from './identities/service.js';
import * as imports from './imports/service.js';
import * as ingestion from './ingestion/service.js';
import { createPhoneVault } from './phone.js';
import { idsFilter, profileFamily, toObjectId } from './profiles/family.js';
import * as profiles from './profiles/service.js';
import * as rules from './rules/service.js';
import * as tags from './tags/service.js';
import { recordEvent } from './timeline/record.js';
import * as timeline from './timeline/service.js';

export type { CrmAudit, FollowerInfo, FollowerInfoSource, ProfileScope, TierChanged, WechatTagSync } from './deps.js';
export type { ConsentChannel } from './consent/model.js';
export type { FollowerEventInput, FollowerEventKind } from './followers/service.js';
export type { WecomContactInput } from './followers/wecom.js';
export type { IdentityKind } from './identities/model.js';
export type { IngestOutcome } from './ingestion/service.js';
export type { PresentedProfile, ProfileQuery, ProfilePatch } from './profiles/service.js';
export type { TimelineInput } from './timeline/service.js';
export { idsFilter, profileFamily, toObjectId };

export interface CrmOptions {
  config: AppConfig;
  logger: Logger;
  redis: Redis;
  followerInfo?: FollowerInfoSource;
  wechatTags?: WechatTagSync;
  audit?: CrmAudit;
  /** Queues a job now (Agenda's `now`): used to run uploaded imports on a worker. */
  schedule?: (job: string, data: Record<string, unknown>) => Promise<void>;
  now?: () => Date;
  /** Told after each tier change (e.g. to publish `crm.tier-changed`). */
  onTierChanged?: CrmDeps['onTierChanged'];
}

declare module '../infra/events.js' {
  interface DomainEvents {
    /** A profile's tier changed (menus re-tag the follower; caches of the tier drop it). */
    'crm.tier-changed': TierChanged;
  }
}

type Bound<F> = F extends (deps: CrmDeps, ...args: infer A) => infer R ? (...args: A) => R : never;
function bind<F extends (deps: CrmDeps, ...args: never[]) => unknown>(deps: CrmDeps, f: F): Bound<F> {
  return ((...args: never[]) => f(deps, ...args)) as Bound<F>;
}

/** Builds the CRM services over the given infrastructure and ports. */
export function createCrm(options: CrmOptions) {
  const deps: CrmDeps = {
    config: options.config.crm,
    logger: options.logger.child({ domain: 'crm' }),
    redis: options.redis,
    phones: createPhoneVault(options.config.crm.phoneKey),
    followerInfo: options.followerInfo,
    wechatTags: options.wechatTags,
    audit: options.audit,
    now: options.now ?? (() => new Date()),
    ...(options.onTierChanged ? { onTierChanged: options.onTierChanged } : {}),
  };
  return {
    deps,
    followers: {
      /** Subscribe it to the gateway's follower events (subscribe, unsubscribe, message, click, location…). */
      record: bind(deps, followers.recordFollowerEvent),
      state: bind(deps, followers.followerState),
      history: followers.subscriptionHistory,
      /** Re-derives the follower row's subscription fields from the history (after a lost update). */
      reconcile: followers.reconcileSubscription,
      /** The Agenda job body: batched, bounded user-info enrichment. */
      enrich: bind(deps, followers.enrichFollowers),
    },
    wecom: { recordContact: bind(deps, recordWecomContact) },
    identities: {
      resolve: bind(deps, identities.resolveProfile),
      find: identities.findByIdentity,
      of: identities.identityOf,
      unionidOf: identities.unionidOf,
      ownerKnownBefore: identities.ownerKnownBefore,
      contestedBetween: identities.contestedBetween,
      phone: (raw: string, verified: boolean) => identities.identityOf.phone(deps, raw, verified),
      merge: bind(deps, merges.mergeProfiles),
      unmerge: bind(deps, merges.unmergeProfiles),
      reviews: merges.listReviews,
      resolveReview: bind(deps, merges.resolveReview),
    },
    profiles: {
      view: bind(deps, profiles.profileView),
      update: bind(deps, profiles.updateProfile),
      changeTier: bind(deps, profiles.changeTier),
      tierHistory: profiles.tierHistory,
      recordVerification: bind(deps, profiles.recordVerification),
      verifications: profiles.currentVerifications,
      search: bind(deps, profiles.searchProfiles),
      exportCsv: bind(deps, profiles.exportProfilesCsv),
      /** Throws not_found outside the scope: use before any per-profile action taken for a scoped caller. */
      assertInScope: async (profileId: Types.ObjectId, scope?: ProfileScope) => {
        await profiles.scopedProfile(profileId, scope);
      },
    },
    consent: {
      isMarketingAllowed: bind(deps, consent.isMarketingAllowed),
      optOut: bind(deps, consent.optOut),
      optIn: bind(deps, consent.optIn),
      isOptOutKeyword: (text: string) => consent.isOptOutKeyword(deps, text),
      /** For the conversation engine: an opt-out keyword from a follower stops marketing at once. */
      handleInboundText: bind(deps, consent.handleInboundText),
      summary: bind(deps, consent.consentSummary),
    },
    tags: {
      createGroup: bind(deps, tags.createTagGroup),
      create: bind(deps, tags.createTag),
      list: tags.listTags,
      add: bind(deps, tags.addTag),
      remove: bind(deps, tags.removeTag),
      of: tags.tagsOf,
      linkWechat: bind(deps, tags.linkWechatTag),
      pushToWechat: bind(deps, tags.pushTagChanges),
      applyWechat: bind(deps, tags.applyWechatTags),
    },
    attributes: {
      define: bind(deps, attributes.defineAttribute),
      list: attributes.listAttributeDefs,
      set: bind(deps, attributes.setAttributes),
    },
    timeline: {
      /** Any domain appends here (push deliveries, campaign joins, payouts, referrals…); runs auto-tag rules. */
      record: bind(deps, recordEvent),
      list: bind(deps, timeline.listTimeline),
    },
    rules: {
      create: bind(deps, rules.createRule),
      update: bind(deps, rules.updateRule),
      delete: bind(deps, rules.deleteRule),
      list: rules.listRules,
    },
    ingestion: {
      createSource: bind(deps, ingestion.createIngestionSource),
      deactivateSource: bind(deps, ingestion.deactivateIngestionSource),
      authenticate: bind(deps, ingestion.authenticateSource),
      ingest: bind(deps, ingestion.ingestEvents),
    },
    imports: {
      create: bind(deps, imports.createImport),
      run: bind(deps, imports.runImport),
      report: imports.importReport,
      createUpload: bind(deps, imports.createUploadImport),
      appendChunk: bind(deps, imports.appendImportChunk),
      /** Queues the run on a worker (crm.run-import); without a scheduler it runs in this process. */
      start: async (jobId: Types.ObjectId) => {
        if (options.schedule) await options.schedule('crm.run-import', { importId: jobId.toHexString() });
        else await imports.runImport(deps, jobId);
      },
    },
  };
}

export type Crm = ReturnType<typeof createCrm>;
