/**
 * Channel QR codes ("联系我" / 渠道活码): one contact way per channel, its `state` the channel key WeCom hands
 * back on every add. A code with several members rotates new customers across them (WeCom assigns among
 * the members of a type-2 contact way). The report counts the ledger: adds, deletions and net per channel
 * and per member over a period (FerretDB: `$match` + `$group` with `$sum` only).
 */
import { z } from 'zod';
import { DomainError, isDuplicateKey } from '../infra/errors.js';
import { addContactWay } from '../platform/wecom/index.js';
import { clientOf, type WecomDeps } from './deps.js';
import { WecomChannel, WecomLedger, type WecomChannelDoc } from './model.js';

export const ChannelInput = z
  .object({
    name: z.string().min(1).max(64),
    /** The channel key: letters, digits, _ and - (WeCom allows 30 characters). */
    state: z.string().regex(/^[A-Za-z0-9_-]{1,30}$/),
    kind: z.enum(['branch', 'event', 'poster', 'referral', 'other']).default('other'),
    users: z.array(z.string().min(1).max(64)).min(1).max(100),
  })
  .strict();
export type ChannelInput = z.input<typeof ChannelInput>;

export interface PresentedChannel {
  id: string;
  name: string;
  state: string;
  kind: string;
  users: string[];
  configId?: string;
  qrCode?: string;
  createdAt: string;
}

function present(c: WecomChannelDoc): PresentedChannel {
  return {
    id: String(c._id),
    name: c.name,
    state: c.state,
    kind: c.kind ?? 'other',
    users: c.users,
    ...(c.configId ? { configId: c.configId } : {}),
    ...(c.qrCode ? { qrCode: c.qrCode } : {}),
    createdAt: c.createdAt.toISOString(),
  };
}

/**
 * Creates a channel and its contact way. The state is claimed first (unique index), then the code made;
 * a retried request with the same state gets the channel back once its code exists.
 */
export async function createChannel(
  deps: WecomDeps,
  corp: string,
  raw: ChannelInput,
  by: string,
): Promise<PresentedChannel> {
  const input = ChannelInput.parse(raw);
  let channel: WecomChannelDoc;
  try {
    channel = (await WecomChannel.create({ corp, ...input, createdBy: by })).toObject();
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const existing = await WecomChannel.findOne({ corp, state: input.state }).lean();
    if (existing?.configId && existing.name === input.name) return present(existing);
    throw new DomainError('conflict', 'channel_state_taken', 'Another channel uses this state.');
  }
  try {
    const way = await addContactWay(clientOf(deps, corp), {
      type: input.users.length > 1 ? 2 : 1,
      scene: 2,
      state: input.state,
      users: input.users,
      remark: input.name.slice(0, 30),
      skipVerify: true,
    });
    await WecomChannel.updateOne({ _id: channel._id }, { $set: { configId: way.configId, qrCode: way.qrCode } });
    deps.logger.info({ corp, state: input.state, configId: way.configId }, 'wecom channel created');
    return present({ ...channel, configId: way.configId, qrCode: way.qrCode });
  } catch (err) {
    // Compensation: without a code the state is free again.
    await WecomChannel.deleteOne({ _id: channel._id });
    throw err;
  }
}

export async function listChannels(corp: string): Promise<PresentedChannel[]> {
  const rows = await WecomChannel.find({ corp }).sort({ createdAt: -1 }).lean();
  return rows.map(present);
}

export interface ChannelReportRow {
  state: string;
  name: string;
  adds: number;
  deletions: number;
  net: number;
  byStaff: { userid: string; adds: number; deletions: number; net: number }[];
}

/** Adds, deletions (by either side) and net per channel and per member, between `from` and `to`. */
export async function channelReport(
  corp: string,
  period: { from?: Date; to?: Date } = {},
): Promise<{ channels: ChannelReportRow[] }> {
  const at: Record<string, Date> = {};
  if (period.from) at.$gte = period.from;
  if (period.to) at.$lt = period.to;
  const groups = await WecomLedger.aggregate<{
    _id: { state: string; userid: string; kind: string };
    n: number;
  }>([
    { $match: { corp, ...(Object.keys(at).length ? { at } : {}) } },
    { $group: { _id: { state: '$state', userid: '$userid', kind: '$kind' }, n: { $sum: 1 } } },
  ]);
  const names = new Map(
    (await WecomChannel.find({ corp }, { state: 1, name: 1 }).lean()).map((c) => [c.state, c.name]),
  );
  const rows = new Map<string, ChannelReportRow>();
  for (const g of groups) {
    const state = g._id.state ?? '';
    let row = rows.get(state);
    if (!row) {
      row = {
        state,
        name: names.get(state) ?? (state ? state : '(no channel)'),
        adds: 0,
        deletions: 0,
        net: 0,
        byStaff: [],
      };
      rows.set(state, row);
    }
    let staff = row.byStaff.find((s) => s.userid === g._id.userid);
    if (!staff) {
      staff = { userid: g._id.userid, adds: 0, deletions: 0, net: 0 };
      row.byStaff.push(staff);
    }
    if (g._id.kind === 'add') {
      row.adds += g.n;
      staff.adds += g.n;
    } else {
      row.deletions += g.n;
      staff.deletions += g.n;
    }
    row.net = row.adds - row.deletions;
    staff.net = staff.adds - staff.deletions;
  }
  for (const row of rows.values()) row.byStaff.sort((a, b) => a.userid.localeCompare(b.userid));
  return { channels: [...rows.values()].sort((a, b) => a.state.localeCompare(b.state)) };
}
