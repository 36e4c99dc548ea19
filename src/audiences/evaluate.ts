/**
 * Evaluates a compiled condition (conditions.ts) into the set of matching profile ids. Each leaf is one
 * fixed query streamed with a cursor (projected to ids, never whole documents); and/or/not are set
 * operations in memory (a profile id is ~24 bytes, so 200,000 profiles are a few megabytes). FerretDB has
 * no $lookup, so joins happen here rather than in an aggregation.
 *
 * Ids are normalised to the surviving profile when profiles were merged, so a merged customer counts once.
 */
import mongoose, { type Types } from 'mongoose';
import type { Plan } from './conditions.js';

type Filter = Record<string, unknown>;
type IdDoc = { _id: Types.ObjectId };

export interface EvaluationContext {
  /** Members of a saved audience (set operations over audiences). */
  membersOf(audienceId: string): Promise<Set<string>>;
}

function collection(name: string) {
  const db = mongoose.connection.db;
  if (!db) throw new Error('mongo is not connected');
  return db.collection(name);
}

async function mergedMap(): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  const cursor = collection('crm_profiles').find(
    { mergedInto: { $exists: true } },
    { projection: { _id: 1, mergedInto: 1 } },
  );
  for await (const doc of cursor) map.set(String(doc._id), String(doc.mergedInto));
  return map;
}

class Evaluator {
  private universe?: Set<string>;
  private merged?: Map<string, string>;

  constructor(private readonly ctx: EvaluationContext) {}

  private async survivor(): Promise<(id: string) => string> {
    this.merged ??= await mergedMap();
    const merged = this.merged;
    return (id) => {
      let current = id;
      for (let hops = 0; hops < 10; hops += 1) {
        const next = merged.get(current);
        if (!next) return current;
        current = next;
      }
      return current;
    };
  }

  async all(): Promise<Set<string>> {
    if (this.universe) return this.universe;
    this.universe = await this.profiles({});
    return this.universe;
  }

  private async profiles(filter: Filter): Promise<Set<string>> {
    const out = new Set<string>();
    const cursor = collection('crm_profiles').find(
      { $and: [filter, { mergedInto: { $exists: false } }] },
      { projection: { _id: 1 }, batchSize: 5000 },
    );
    for await (const doc of cursor) out.add(String((doc as IdDoc)._id));
    return out;
  }

  private async idsOf(name: string, filter: Filter, field = 'profileId'): Promise<Set<string>> {
    const norm = await this.survivor();
    const out = new Set<string>();
    const cursor = collection(name).find(filter, { projection: { [field]: 1, _id: 0 }, batchSize: 5000 });
    for await (const doc of cursor) {
      const id = doc[field] as Types.ObjectId | string | undefined;
      if (id !== undefined && id !== null) out.add(norm(typeof id === 'string' ? id : id.toHexString()));
    }
    return out;
  }

  async run(plan: Plan): Promise<Set<string>> {
    switch (plan.kind) {
      case 'profiles':
        return this.profiles(plan.filter);
      case 'tag': {
        const tags = await collection('crm_tags')
          .find({ name: plan.tagName }, { projection: { _id: 1 } })
          .toArray();
        if (tags.length === 0) return new Set();
        return this.idsOf('crm_profile_tags', { tagId: { $in: tags.map((t) => t._id) } });
      }
      case 'follows':
        return this.idsOf('crm_followers', plan.filter);
      case 'consent':
        return this.consent(plan.channel, plan.allowed);
      case 'event':
        return this.events(plan);
      case 'audience':
        return this.ctx.membersOf(plan.audienceId);
      case 'wecomGroup':
        // Synced by the WeCom domain (wecom_group_members); only external members joined to a profile count.
        return this.idsOf('wecom_group_members', {
          corp: plan.corp,
          ...(plan.chatId ? { chatId: plan.chatId } : {}),
          external: true,
          profileId: { $exists: true },
        });
      case 'and': {
        const positives = plan.parts.filter((p) => p.kind !== 'not');
        const negatives = plan.parts.filter((p): p is { kind: 'not'; part: Plan } => p.kind === 'not');
        let result: Set<string> | undefined;
        for (const part of positives) {
          const ids = await this.run(part);
          result = result ? intersect(result, ids) : ids;
          if (result.size === 0) return result;
        }
        result ??= new Set(await this.all());
        for (const negative of negatives) {
          const excluded = await this.run(negative.part);
          for (const id of excluded) result.delete(id);
        }
        return result;
      }
      case 'or': {
        const result = new Set<string>();
        for (const part of plan.parts) for (const id of await this.run(part)) result.add(id);
        return result;
      }
      case 'not': {
        const excluded = await this.run(plan.part);
        const result = new Set<string>();
        for (const id of await this.all()) if (!excluded.has(id)) result.add(id);
        return result;
      }
    }
  }

  /** The newest consent record per profile decides; no record means allowed (opt-out model). */
  private async consent(channel: string, allowed: boolean): Promise<Set<string>> {
    const norm = await this.survivor();
    const latest = new Map<string, boolean>();
    const cursor = collection('crm_consents')
      .find({ channel: { $in: [channel, 'all'] } }, { projection: { profileId: 1, allowed: 1, at: 1, _id: 0 } })
      .sort({ at: 1 });
    for await (const doc of cursor) latest.set(norm(String(doc.profileId)), Boolean(doc.allowed));
    if (!allowed) return new Set([...latest].filter(([, a]) => !a).map(([id]) => id));
    const result = new Set<string>();
    for (const id of await this.all()) if (latest.get(id) !== false) result.add(id);
    return result;
  }

  private async events(plan: Extract<Plan, { kind: 'event' }>): Promise<Set<string>> {
    const norm = await this.survivor();
    const filter: Filter = { type: plan.type };
    const at: Filter = {};
    if (plan.from) at.$gte = plan.from;
    if (plan.until) at.$lt = plan.until;
    if (Object.keys(at).length > 0) filter.at = at;
    const counts = new Map<string, { n: number; fen: number }>();
    const cursor = collection('crm_timeline').find(filter, {
      projection: { profileId: 1, 'payload.amountFen': 1, _id: 0 },
      batchSize: 5000,
    });
    for await (const doc of cursor) {
      const id = norm(String(doc.profileId));
      const entry = counts.get(id) ?? { n: 0, fen: 0 };
      entry.n += 1;
      const fen = (doc.payload as { amountFen?: unknown } | undefined)?.amountFen;
      if (typeof fen === 'number' && Number.isInteger(fen)) entry.fen += fen;
      counts.set(id, entry);
    }
    const count = plan.count ?? { op: 'gte', value: 1 };
    const matches = (e: { n: number; fen: number }) =>
      compare(e.n, count.op, count.value) && (!plan.sumFen || compare(e.fen, plan.sumFen.op, plan.sumFen.value));
    const zeroMatches = matches({ n: 0, fen: 0 });
    if (!zeroMatches) return new Set([...counts].filter(([, e]) => matches(e)).map(([id]) => id));
    // "fewer than N" includes everyone without such events.
    const result = new Set<string>();
    for (const id of await this.all()) {
      const entry = counts.get(id);
      if (!entry || matches(entry)) result.add(id);
    }
    return result;
  }
}

function compare(actual: number, op: 'eq' | 'gt' | 'gte' | 'lt' | 'lte', value: number): boolean {
  switch (op) {
    case 'eq':
      return actual === value;
    case 'gt':
      return actual > value;
    case 'gte':
      return actual >= value;
    case 'lt':
      return actual < value;
    case 'lte':
      return actual <= value;
  }
}

function intersect(a: Set<string>, b: Set<string>): Set<string> {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  const out = new Set<string>();
  for (const id of small) if (large.has(id)) out.add(id);
  return out;
}

/** The profile ids a plan selects now. */
export async function evaluatePlan(plan: Plan, ctx: EvaluationContext): Promise<Set<string>> {
  return new Evaluator(ctx).run(plan);
}
