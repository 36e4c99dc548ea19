/**
 * Event ingestion for business systems: per-source API keys (stored hashed), batches where each event is
 * accepted, reported as a duplicate (its idempotency key was seen: the unique timeline dedupKey), or
 * rejected with its reasons, independently of the others.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Types } from 'mongoose';
import { DomainError, isDuplicateKey } from '../../infra/errors.js';
import type { CrmDeps } from '../deps.js';
import { identityOf, resolveProfile, type IdentityInput } from '../identities/service.js';
import { Profile } from '../profiles/model.js';
import { recordEvent } from '../timeline/record.js';
import { timelineHas } from '../timeline/service.js';
import { IngestionSource, type IngestionSourceDoc } from './model.js';
import { IngestEvent, type CustomerRef } from './schemas.js';

const hashKey = (apiKey: string) => createHash('sha256').update(apiKey).digest('hex');

/** Creates a source and its API key; the key is returned once and only its hash is kept. */
export async function createIngestionSource(
  _deps: CrmDeps,
  input: { name: string; createdBy: string },
): Promise<{ id: string; name: string; apiKey: string }> {
  if (!/^[a-z][a-z0-9_-]{1,39}$/.test(input.name))
    throw new DomainError('invalid', 'invalid_source_name', 'Source names are 2-40 of a-z 0-9 _ -.');
  const apiKey = `crm_${randomBytes(24).toString('base64url')}`;
  try {
    const doc = await IngestionSource.create({
      name: input.name,
      keyHash: hashKey(apiKey),
      keyPrefix: apiKey.slice(0, 8),
      createdBy: input.createdBy,
    });
    return { id: String(doc._id), name: doc.name, apiKey };
  } catch (err) {
    if (isDuplicateKey(err)) throw new DomainError('conflict', 'source_exists', 'A source with this name exists.');
    throw err;
  }
}

/** Turns a source off; its key stops working at once. */
export async function deactivateIngestionSource(_deps: CrmDeps, sourceId: Types.ObjectId): Promise<void> {
  const { matchedCount } = await IngestionSource.updateOne({ _id: sourceId }, { $set: { active: false } });
  if (matchedCount === 0) throw new DomainError('not_found', 'source_not_found', 'No such source.');
}

/** The active source holding this API key, or unauthenticated. */
export async function authenticateSource(_deps: CrmDeps, apiKey: string | undefined): Promise<IngestionSourceDoc> {
  if (!apiKey || !/^crm_[A-Za-z0-9_-]{32}$/.test(apiKey))
    throw new DomainError('unauthenticated', 'invalid_api_key', 'A valid API key is required.');
  const hash = hashKey(apiKey);
  const source = await IngestionSource.findOne({ keyHash: hash }).lean();
  // The lookup is by hash; the compare below keeps the final check constant-time as a matter of habit.
  if (!source || !source.active || !timingSafeEqual(Buffer.from(source.keyHash), Buffer.from(hash)))
    throw new DomainError('unauthenticated', 'invalid_api_key', 'A valid API key is required.');
  return source;
}

export type IngestOutcome =
  | { index: number; idempotencyKey: string; status: 'accepted'; profileId: string; eventId: string }
  | { index: number; idempotencyKey: string; status: 'duplicate'; profileId: string; eventId: string }
  | { index: number; idempotencyKey?: string; status: 'rejected'; errors: { path: string; message: string }[] };

function identitiesOf(deps: CrmDeps, c: CustomerRef): IdentityInput[] {
  const out: IdentityInput[] = [];
  if (c.unionid) out.push(identityOf.unionid(c.unionid));
  if (c.customerNo) out.push(identityOf.customerNo(c.customerNo));
  if (c.openid) out.push(identityOf.openid(c.openid.account, c.openid.openid));
  if (c.externalUserId) out.push(identityOf.externalUser(c.externalUserId.corp, c.externalUserId.id));
  if (c.phone) out.push(identityOf.phone(deps, c.phone, c.phoneVerified ?? false));
  return out;
}

async function ingestOne(
  deps: CrmDeps,
  source: IngestionSourceDoc,
  index: number,
  raw: unknown,
): Promise<IngestOutcome> {
  const parsed = IngestEvent.safeParse(raw);
  const keyGuess =
    typeof raw === 'object' && raw !== null && typeof (raw as { idempotencyKey?: unknown }).idempotencyKey === 'string'
      ? (raw as { idempotencyKey: string }).idempotencyKey.slice(0, 128)
      : undefined;
  if (!parsed.success)
    return {
      index,
      idempotencyKey: keyGuess,
      status: 'rejected',
      errors: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(event)', message: i.message })),
    };
  const e = parsed.data;
  const dedupKey = `ingest:${String(source._id)}:${e.idempotencyKey}`;
  const seen = await timelineHas(dedupKey);
  if (seen)
    return {
      index,
      idempotencyKey: e.idempotencyKey,
      status: 'duplicate',
      profileId: seen.profileId.toHexString(),
      eventId: String(seen._id),
    };
  try {
    const phone = e.customer.phone ? deps.phones.protect(e.customer.phone) : undefined;
    const { profileId } = await resolveProfile(deps, {
      identities: identitiesOf(deps, e.customer),
      source: `ingest:${source.name}`,
      seed: {
        stage: 'lead',
        ...(e.profile ?? {}),
        ...(phone ? { phone: { ...phone, verified: e.customer.phoneVerified ?? false } } : {}),
      },
    });
    const type = e.type === 'custom' ? `custom.${e.name!}` : e.type;
    const result = await recordEvent(deps, {
      profileId,
      type,
      at: e.at ? new Date(e.at) : deps.now(),
      source: `ingest:${source.name}`,
      payload: { ...e.payload, ...(e.amountFen !== undefined ? { amountFen: e.amountFen } : {}) },
      dedupKey,
    });
    if (!result.duplicate && (e.type === 'purchase' || e.type === 'renewal'))
      await Profile.updateOne(
        { _id: profileId, stage: { $in: ['lead', 'follower'] } },
        { $set: { stage: 'customer' } },
      );
    return {
      index,
      idempotencyKey: e.idempotencyKey,
      status: result.duplicate ? 'duplicate' : 'accepted',
      profileId: result.event.profileId.toHexString(),
      eventId: String(result.event._id),
    };
  } catch (err) {
    // Only what the event itself got wrong is its rejection; an outage fails the request (retry is safe).
    if (!(err instanceof DomainError) || err.kind === 'unavailable') throw err;
    return {
      index,
      idempotencyKey: e.idempotencyKey,
      status: 'rejected',
      errors: [{ path: err.code === 'invalid_phone' ? 'customer.phone' : '(event)', message: err.message }],
    };
  }
}

/** Ingests a batch from an authenticated source; each event gets its own outcome, in order. */
export async function ingestEvents(
  deps: CrmDeps,
  input: { source: IngestionSourceDoc; events: unknown[] },
): Promise<{ results: IngestOutcome[]; accepted: number; duplicates: number; rejected: number }> {
  const results: IngestOutcome[] = [];
  for (const [index, raw] of input.events.entries()) results.push(await ingestOne(deps, input.source, index, raw));
  const count = (s: IngestOutcome['status']) => results.filter((r) => r.status === s).length;
  deps.logger.info(
    {
      sourceId: String(input.source._id),
      accepted: count('accepted'),
      duplicates: count('duplicate'),
      rejected: count('rejected'),
    },
    'crm: events ingested',
  );
  return { results, accepted: count('accepted'), duplicates: count('duplicate'), rejected: count('rejected') };
}
