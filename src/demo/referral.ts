/**
 * The demo's referral campaign: the marketer creates it through the admin API, the finance manager
 * approves it, it starts; a few followers ask for their code in the chat, friends scan it in the sandbox,
 * one friend buys (reported by the trading system), one leaves again, the others do nothing; the worker's
 * settlement job decides every referral and the referrer is rewarded once.
 *
 * A qualifying window is at least a day and the processes keep real time, so the friends' part is played a
 * day ago: the sandbox clock is set back for their scans (their pushes carry that CreateTime), and their
 * one-day window closes half a minute after the day resumes. The friend who buys is reported before the
 * window closes, with the purchase's own time inside it; the friend who leaves unfollows right after.
 */
import { postEvents } from './http.js';
import { follower, waitUntil, type DemoWorld, type Person } from './scenario.js';

const DAY = 86_400_000;
/** The friends follow a day ago less half a minute: their window closes 30 s after the day resumes. */
const BACKDATE_MS = DAY - 30_000;
const KEYWORD = '邀请好友';
const REFERRER_POINTS = 100;
/** Friends brought by each referrer. */
const FRIENDS_PER_REFERRER = [3, 2, 1];

interface Referrer {
  person: Person;
  ticket: string;
  friends: string[];
}

export async function setUpReferral(world: DemoWorld): Promise<void> {
  const marketer = world.staff.marketer!;
  const now = Date.now();
  const created = await marketer.call<{ id: string }>('POST', '/campaigns/referrals', {
    name: '邀好友 享积分',
    account: 'default',
    startAt: new Date(now - 3 * DAY).toISOString(),
    endAt: new Date(now + 30 * DAY).toISOString(),
    qualify: { action: 'purchase', withinDays: 1 },
    referrerReward: { kind: 'points', points: REFERRER_POINTS },
    capTotal: 20,
    capPerDay: 10,
    keyword: KEYWORD,
  });
  await world.staff.manager!.call('POST', `/campaigns/referrals/${created.id}/approve`);
  await marketer.call('POST', `/campaigns/referrals/${created.id}/start`);
  world.referralCampaignId = created.id;
  world.say(
    `referral: campaign ${created.id} — a friend who buys within a day earns the referrer ${REFERRER_POINTS} points`,
  );
}

export async function playReferral(world: DemoWorld): Promise<void> {
  const campaignId = world.referralCampaignId!;
  const db = world.db.db!;
  const { sandbox } = world.stack;
  const chosen = world.people.filter((p) => !p.farmer && !p.frozen).slice(0, FRIENDS_PER_REFERRER.length);

  // Each referrer asks for their code in the chat; the reply carries the QR image (its ticket) and link.
  const referrers: Referrer[] = [];
  for (const [i, person] of chosen.entries()) {
    const reply = (await follower(world, person.accounts[0]!).send(KEYWORD)).inbox?.text ?? '';
    const ticket = /showqrcode\?ticket=([^\s&]+)/.exec(reply)?.[1];
    if (!ticket) throw new Error(`referrer ${person.n} got no referral code: ${reply.slice(0, 120)}`);
    const friends = Array.from(
      { length: FRIENDS_PER_REFERRER[i]! },
      (_, k) => `oFrd${person.accounts[0]!.openid.slice(4)}${k}`,
    );
    referrers.push({ person, ticket: decodeURIComponent(ticket), friends });
  }

  const friends = referrers.flatMap((r) => r.friends);
  const play = {
    referrers: referrers.map((r) => r.person.accounts[0]!.openid),
    friends,
    qualified: friends[0]!,
    left: friends[1]!,
  };
  // The friend who buys: the trading system knows them by the openid they used on its H5 page (the CRM
  // makes their profile), and reports the purchase an hour after they will have followed.
  const followedAt = sandbox.clock.now() - BACKDATE_MS;
  const orderNo = `ORD-RF-${play.qualified.slice(-8)}`;
  await postEvents(world.stack.webUrl, world.apiKey!, [
    {
      idempotencyKey: `demo-referral-order-${play.qualified}`,
      type: 'purchase',
      at: new Date(followedAt + 3_600_000).toISOString(),
      customer: { openid: { account: 'default', openid: play.qualified } },
      amountFen: 100_000,
      payload: { product: '稳健增利债券A', orderNo },
    },
  ]);

  // A day ago: the friends scan the codes and follow the service account; one of them leaves again.
  sandbox.clock.advance(-BACKDATE_MS);
  try {
    for (const r of referrers)
      for (const openid of r.friends) await follower(world, { account: 'default', openid }).scan(r.ticket);
    sandbox.clock.advance(60_000);
    await follower(world, { account: 'default', openid: play.left }).unsubscribe();
  } finally {
    sandbox.clock.advance(BACKDATE_MS - 60_000);
  }
  // Today: a referrer scans their own code, and a follower scans someone else's (interest, no credit).
  await follower(world, referrers[0]!.person.accounts[0]!).scan(referrers[0]!.ticket);
  const bystander = world.people.find((p) => !chosen.includes(p) && !p.farmer);
  if (bystander) await follower(world, bystander.accounts[0]!).scan(referrers[1]!.ticket);
  await waitUntil(
    'every friend attributed',
    async () => (await db.collection('referral_relations').countDocuments({ campaignId })) >= friends.length,
    30_000,
    world.say,
  );

  // The worker's settlement job decides every referral whose window has closed and grants the rewards.
  await waitUntil(
    'settlement of every referral',
    async () => {
      const [pending, granting] = await Promise.all([
        db.collection('referral_relations').countDocuments({ campaignId, state: 'pending' }),
        db.collection('referral_rewards').countDocuments({ campaignId, state: 'granting' }),
      ]);
      return pending === 0 && granting === 0;
    },
    world.fast ? 60_000 : 120_000,
    world.say,
  );
  const progress =
    (await follower(world, referrers[0]!.person.accounts[0]!).send('我的邀请')).inbox?.text.split('\n')[0] ?? '';
  world.referral = play;
  world.say(
    `referral: ${referrers.length} referrers asked for codes, ${friends.length} friends followed through them; ` +
      `the first referrer reads "${progress}"`,
  );
}
