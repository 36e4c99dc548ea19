/**
 * The full contact sync, repairing what events missed: members (get_follow_user_list), then each member's
 * customers page by page (batch/get_by_user), every page recorded with the same idempotent upserts as the
 * events, then a checkpoint (member index + cursor) saved. A run that dies half-way is resumed by the next
 * one from its checkpoint; at worst the page in flight is recorded twice, which changes nothing. WeCom calls
 * are paced by a Redis counter per corp and second (shared by every worker).
 */
import { randomUUID } from 'node:crypto';
import {
  batchGetByUser,
  getCorpTagList,
  getFollowUserList,
  type ExternalContactDetail,
} from '../platform/wecom/index.js';
import { recordFollow } from './contacts.js';
import { clientOf, type WecomDeps } from './deps.js';
import { WecomSyncRun, type WecomSyncDoc } from './model.js';

export const WECOM_SYNC_JOB = 'wecom.sync-contacts';
const PAGE_SIZE = 100;

/** Waits until this second's call budget of the corp has room. */
async function paced(deps: WecomDeps, corp: string): Promise<void> {
  const limit = deps.config.syncCallsPerSecond;
  for (;;) {
    const second = Math.floor(Date.now() / 1000);
    const key = `wecom:sync:rate:${corp}:${second}`;
    const n = await deps.redis.incr(key);
    if (n === 1) await deps.redis.expire(key, 2);
    if (n <= limit) return;
    await new Promise((r) => setTimeout(r, (second + 1) * 1000 - Date.now() + 5));
  }
}

export interface SyncOptions {
  /** Customers per page (WeCom allows 1-100). */
  pageSize?: number;
  /** Stop (resumably) after this many pages in this call. */
  maxPages?: number;
  /** Called after a page is recorded and before its checkpoint is saved (tests crash here). */
  afterPage?: (page: number) => void | Promise<void>;
}

/** Runs the unfinished sync of the corp, or a new one; returns its progress. */
export async function runContactSync(
  deps: WecomDeps,
  corp: string,
  options: SyncOptions = {},
): Promise<{ runId: string; finished: boolean; pages: number; contacts: number }> {
  const log = deps.logger.child({ corp, job: WECOM_SYNC_JOB });
  const client = clientOf(deps, corp);
  let run: WecomSyncDoc | null = await WecomSyncRun.findOne({ corp, finishedAt: { $exists: false } })
    .sort({ createdAt: 1 })
    .lean();
  if (!run) {
    await paced(deps, corp);
    const users = await getFollowUserList(client);
    run = (await WecomSyncRun.create({ corp, runId: randomUUID(), users })).toObject();
    log.info({ runId: run.runId, members: users.length }, 'wecom sync started');
  } else log.info({ runId: run.runId, userIndex: run.userIndex }, 'wecom sync resumed');

  await paced(deps, corp);
  const tagNames = new Map(
    (await getCorpTagList(client)).flatMap((g) =>
      g.tag.map((t) => [t.id, { group_name: g.group_name, tag_name: t.name }] as const),
    ),
  );

  let { userIndex, cursor, pages, contacts } = run;
  let pagesNow = 0;
  while (userIndex < run.users.length) {
    if (options.maxPages !== undefined && pagesNow >= options.maxPages)
      return { runId: run.runId, finished: false, pages, contacts };
    const userid = run.users[userIndex]!;
    await paced(deps, corp);
    const page = await batchGetByUser(client, {
      userids: [userid],
      cursor: cursor || undefined,
      limit: options.pageSize ?? PAGE_SIZE,
    });
    for (const item of page.external_contact_list) {
      const info = item.follow_info;
      const follow: ExternalContactDetail['follow_user'][number] = {
        userid: info.userid,
        createtime: info.createtime,
        ...(info.remark !== undefined ? { remark: info.remark } : {}),
        ...(info.state ? { state: info.state } : {}),
        tags: (info.tag_id ?? []).map((id) => ({
          tag_id: id,
          type: 1,
          group_name: tagNames.get(id)?.group_name ?? '',
          tag_name: tagNames.get(id)?.tag_name ?? id,
        })),
      };
      await recordFollow(deps, corp, item.external_contact, follow, { kind: 'add_external_contact' });
    }
    pages += 1;
    pagesNow += 1;
    contacts += page.external_contact_list.length;
    await options.afterPage?.(pages);
    if (page.next_cursor) cursor = page.next_cursor;
    else {
      userIndex += 1;
      cursor = '';
    }
    await WecomSyncRun.updateOne({ _id: run._id }, { $set: { userIndex, cursor, pages, contacts } });
  }
  await WecomSyncRun.updateOne({ _id: run._id }, { $set: { finishedAt: deps.now() } });
  log.info({ runId: run.runId, pages, contacts }, 'wecom sync finished');
  return { runId: run.runId, finished: true, pages, contacts };
}
