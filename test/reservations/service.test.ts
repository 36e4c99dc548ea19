import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  claimCode,
  codesOfOwner,
  createProgram,
  createReservationDeps,
  parseCode,
  programStats,
  redeemCode,
  revokeCode,
  drainNotices,
  queuedNotices,
  sendDueReminders,
  type EligibilityPort,
  type ProgramInput,
  type ReservationDeps,
  type ReservationNotice,
} from '../../src/reservations/index.js';
import { useTestApp } from '../support/app.js';

const testApp = useTestApp({ RESERVATION_MAX_FAILURES: '4', RESERVATION_BURST_ALERT_PER_MINUTE: '3' });

const tiers = new Map<string, string>();
const eligibility: EligibilityPort = {
  check(profileId, rule) {
    const tier = tiers.get(profileId) ?? 'standard';
    if (rule.tiers && !rule.tiers.includes(tier)) return Promise.resolve({ eligible: false, reason: `tier ${tier}` });
    return Promise.resolve({ eligible: true });
  },
};
const sent: ReservationNotice[] = [];
let notifierDown = false;
let clock: Date | undefined;
let deps: ReservationDeps;

beforeAll(() => {
  deps = createReservationDeps(testApp().deps, {
    eligibility,
    notifier: {
      notify(notice) {
        if (notifierDown) return Promise.reject(new Error('template API down'));
        sent.push(notice);
        return Promise.resolve();
      },
    },
    now: () => clock ?? new Date(),
  });
});

const HOUR = 3_600_000;
function programInput(overrides: Partial<ProgramInput> = {}): ProgramInput {
  const t = Date.now();
  return {
    name: 'High-yield fund A',
    quota: 10,
    issueFrom: new Date(t - HOUR),
    issueUntil: new Date(t + 10 * HOUR),
    redeemFrom: new Date(t - HOUR),
    redeemUntil: new Date(t + 48 * HOUR),
    issueMode: 'claim',
    eligibility: { tiers: ['vip'] },
    ...overrides,
  };
}

function vip(): string {
  const id = `p_${randomUUID()}`;
  tiers.set(id, 'vip');
  return id;
}

async function rejectionOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'fulfilled';
}

describe('claiming codes', () => {
  it('issues exactly the quota under 300 concurrent claims against 100 codes', async () => {
    const program = await createProgram(deps, programInput({ quota: 100 }), 'staff-1');
    const customers = Array.from({ length: 300 }, vip);
    const results = await Promise.allSettled(
      customers.map((profileId) => claimCode(deps, { programId: program._id, profileId, via: 'keyword' })),
    );
    const issued = results.filter((r) => r.status === 'fulfilled');
    expect(issued).toHaveLength(100);
    const reasons = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code: string }).code] : []));
    expect(new Set(reasons)).toEqual(new Set(['sold_out']));
    const stats = await programStats(deps, program._id);
    expect(stats).toMatchObject({ quota: 100, issued: 100, remaining: 0, redeemed: 0 });
    const codes = new Set(issued.map((r) => (r.status === 'fulfilled' ? r.value.code : '')));
    expect(codes.size).toBe(100);
  });

  it('gives a customer who asks ten times at once one code, the same each time', async () => {
    const program = await createProgram(deps, programInput(), 'staff-1');
    const profileId = vip();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => claimCode(deps, { programId: program._id, profileId, via: 'keyword' })),
    );
    expect(new Set(results.map((r) => r.code)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    // The nine losers gave their quota slots back.
    expect((await programStats(deps, program._id)).remaining).toBe(9);
  });

  it('refuses a customer outside the eligible tiers, and windows that are not open', async () => {
    const program = await createProgram(deps, programInput(), 'staff-1');
    const standard = `p_${randomUUID()}`;
    expect(await rejectionOf(claimCode(deps, { programId: program._id, profileId: standard, via: 'h5' }))).toBe(
      'not_eligible',
    );
    const later = await createProgram(
      deps,
      programInput({ issueFrom: new Date(Date.now() + HOUR), issueUntil: new Date(Date.now() + 2 * HOUR) }),
      'staff-1',
    );
    expect(await rejectionOf(claimCode(deps, { programId: later._id, profileId: vip(), via: 'h5' }))).toBe(
      'issue_not_open',
    );
    expect(await rejectionOf(claimCode(deps, { programId: 'rp_nope', profileId: vip(), via: 'h5' }))).toBe(
      'program_not_found',
    );
  });

  it('rebuilds a lost quota counter from the codes that exist and still never over-issues', async () => {
    const program = await createProgram(deps, programInput({ quota: 5 }), 'staff-1');
    for (let i = 0; i < 3; i += 1) await claimCode(deps, { programId: program._id, profileId: vip(), via: 'h5' });
    await deps.redis.del(`resv:${program._id}:issued`); // Redis restarted without persistence
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => claimCode(deps, { programId: program._id, profileId: vip(), via: 'h5' })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    expect((await programStats(deps, program._id)).issued).toBe(5);
  });

  it('tells the owner their code once, in the issued notice', async () => {
    const program = await createProgram(deps, programInput(), 'staff-1');
    const profileId = vip();
    const issued = await claimCode(deps, { programId: program._id, profileId, via: 'menu' });
    await claimCode(deps, { programId: program._id, profileId, via: 'menu' });
    const notices = sent.filter((n) => n.profileId === profileId);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ kind: 'issued', code: issued.code });
  });
});

describe('redeeming codes', () => {
  async function issued(overrides: Partial<ProgramInput> = {}) {
    const program = await createProgram(deps, programInput(overrides), 'staff-1');
    const profileId = vip();
    const code = await claimCode(deps, { programId: program._id, profileId, via: 'keyword' });
    return { program, profileId, code };
  }

  it('redeems one code exactly once when chat, H5 and the API race for it', async () => {
    const { profileId, code } = await issued();
    const channels = ['chat', 'h5', 'api'] as const;
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        redeemCode(deps, {
          code: code.code,
          channel: channels[i % 3]!,
          profileId,
          actor: i % 3 === 2 ? 'apikey:pos-1' : `profile:${profileId}`,
          orderRef: `order-${i}`,
          idempotencyKey: randomUUID(),
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const reasons = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code: string }).code] : []));
    expect(new Set(reasons)).toEqual(new Set(['code_already_redeemed']));
    const [view] = await codesOfOwner(deps, profileId, { reveal: false });
    expect(view?.status).toBe('redeemed');
  });

  it('answers a retried redemption with the same result, and anyone else with "already used"', async () => {
    const { profileId, code } = await issued();
    const key = randomUUID();
    const input = { code: code.code, channel: 'api' as const, profileId, actor: 'apikey:pos-1', idempotencyKey: key };
    const first = await redeemCode(deps, { ...input, orderRef: 'A-1' });
    const again = await redeemCode(deps, { ...input, orderRef: 'A-1' });
    expect(again).toEqual(first);
    expect(await rejectionOf(redeemCode(deps, { ...input, idempotencyKey: randomUUID() }))).toBe(
      'code_already_redeemed',
    );
  });

  it('answers at once and leaves the "redeemed" message to the worker, which sends it once, even after a lost queue', async () => {
    const redeemedFor = (profileId: string) => sent.filter((n) => n.kind === 'redeemed' && n.profileId === profileId);
    const noticeOf = (profileId: string) =>
      mongoose.connection
        .collection('reservation_notices')
        .findOne<{ state: string }>({ profileId, kind: 'redeemed' }, { projection: { state: 1 } });
    const { profileId, code } = await issued();
    await redeemCode(deps, {
      code: code.code,
      channel: 'api',
      profileId,
      actor: 'apikey:pos-1',
      idempotencyKey: randomUUID(),
    });
    // The answer came before any message: the notice is a pending record with its id on the queue.
    await expect.poll(async () => (await noticeOf(profileId))?.state).toBe('pending');
    expect(redeemedFor(profileId)).toHaveLength(0);
    expect(await queuedNotices(deps)).toBeGreaterThan(0);
    while ((await drainNotices(deps)) > 0);
    expect(redeemedFor(profileId)).toHaveLength(1);
    expect((await noticeOf(profileId))?.state).toBe('sent');
    // A repeated queue entry (a retried push, two workers) sends nothing more.
    while ((await drainNotices(deps)) > 0);
    expect(redeemedFor(profileId)).toHaveLength(1);

    // Redis lost the queue before a worker took the entry: the record stays pending, and the reminder job
    // sends it once it is a minute old.
    const other = await issued();
    await redeemCode(deps, {
      code: other.code.code,
      channel: 'chat',
      profileId: other.profileId,
      actor: `profile:${other.profileId}`,
      idempotencyKey: randomUUID(),
    });
    await expect.poll(async () => (await noticeOf(other.profileId))?.state).toBe('pending');
    await testApp().deps.redis.del('rsv:notices');
    await sendDueReminders(deps);
    expect(redeemedFor(other.profileId)).toHaveLength(0); // not yet stale: the queue may still hold it
    await mongoose.connection
      .collection('reservation_notices')
      .updateOne(
        { profileId: other.profileId, kind: 'redeemed' },
        { $set: { createdAt: new Date(Date.now() - 120_000) } },
      );
    const { retried } = await sendDueReminders(deps);
    expect(retried).toBeGreaterThanOrEqual(1);
    expect(redeemedFor(other.profileId)).toHaveLength(1);
    expect((await noticeOf(other.profileId))?.state).toBe('sent');
  });

  it('catches a typo with the check symbol, and refuses unknown, foreign, expired and revoked codes', async () => {
    const { profileId, code, program } = await issued();
    const actor = `profile:${profileId}`;
    const base = { channel: 'chat' as const, profileId, actor, idempotencyKey: randomUUID() };
    const compact = code.code.replace(/-/g, '');
    const typo = compact.slice(0, 3) + (compact[3] === 'A' ? 'B' : 'A') + compact.slice(4);
    expect(parseCode(typo)).toEqual({ ok: false, reason: 'check' });
    expect(await rejectionOf(redeemCode(deps, { ...base, code: typo }))).toBe('code_typo');
    expect(await rejectionOf(redeemCode(deps, { ...base, code: 'hello' }))).toBe('code_format');

    const stranger = vip();
    expect(
      await rejectionOf(
        redeemCode(deps, { ...base, profileId: stranger, actor: `profile:${stranger}`, code: code.code }),
      ),
    ).toBe('code_wrong_owner');
    expect(await rejectionOf(redeemCode(deps, { ...base, profileId: undefined, code: code.code }))).toBe(
      'owner_required',
    );

    // Unknown: a well-formed code with a valid check symbol that was never issued.
    let unknown = '';
    for (;;) {
      const { generateCode } = await import('../../src/reservations/codes.js');
      unknown = generateCode();
      if (unknown !== compact) break;
    }
    const other = vip();
    expect(
      await rejectionOf(redeemCode(deps, { ...base, profileId: other, actor: `profile:${other}`, code: unknown })),
    ).toBe('code_not_found');

    const revoked = await claimCode(deps, { programId: program._id, profileId: vip(), via: 'admin' });
    await revokeCode(deps, { codeId: revoked.codeId, staffId: 'staff-2', reason: 'customer request' });
    expect(
      await rejectionOf(
        redeemCode(deps, {
          ...base,
          profileId: revoked.profileId,
          actor: 'staff:s1',
          channel: 'admin',
          code: revoked.code,
        }),
      ),
    ).toBe('code_revoked');

    clock = new Date(Date.now() + 72 * HOUR);
    try {
      expect(await rejectionOf(redeemCode(deps, { ...base, code: code.code }))).toBe('code_expired');
    } finally {
      clock = undefined;
    }
  });

  it('lets anyone holding a transferable code redeem it', async () => {
    const { code } = await issued({ bound: false });
    const clerk = await redeemCode(deps, {
      code: code.code,
      channel: 'admin',
      actor: 'staff:agent-7',
      orderRef: 'POS-9',
      idempotencyKey: randomUUID(),
    });
    expect(clerk).toMatchObject({ channel: 'admin', actor: 'staff:agent-7', orderRef: 'POS-9' });
  });

  it('locks out a guesser after the configured failures, even with a right code, and alerts on a burst', async () => {
    const { profileId, code } = await issued();
    const actor = `profile:${profileId}`;
    const ip = `ip:10.0.0.${Math.floor(Math.random() * 250)}`;
    const { generateCode } = await import('../../src/reservations/codes.js');
    for (let i = 0; i < 4; i += 1) {
      expect(
        await rejectionOf(
          redeemCode(deps, {
            code: generateCode(),
            channel: 'h5',
            profileId,
            actor,
            throttle: [ip],
            idempotencyKey: randomUUID(),
          }),
        ),
      ).toBe('code_not_found');
    }
    expect(
      await rejectionOf(
        redeemCode(deps, { code: code.code, channel: 'h5', profileId, actor, idempotencyKey: randomUUID() }),
      ),
    ).toBe('too_many_attempts');
    // The IP is locked as well, whoever uses it next.
    const neighbour = vip();
    expect(
      await rejectionOf(
        redeemCode(deps, {
          code: code.code,
          channel: 'h5',
          profileId: neighbour,
          actor: `profile:${neighbour}`,
          throttle: [ip],
          idempotencyKey: randomUUID(),
        }),
      ),
    ).toBe('too_many_attempts');
    expect(testApp().logs.some((line) => line.includes('burst of failed reservation-code attempts'))).toBe(true);
  });
});

describe('at rest and over time', () => {
  it('leaves no usable code in a database dump', async () => {
    const program = await createProgram(deps, programInput(), 'staff-1');
    const profileId = vip();
    const { code } = await claimCode(deps, { programId: program._id, profileId, via: 'keyword' });
    await redeemCode(deps, { code, channel: 'chat', profileId, actor: `profile:${profileId}`, idempotencyKey: 'k1' });
    const db = mongoose.connection.db!;
    let dump = '';
    for (const { name } of await db.listCollections().toArray()) {
      dump += JSON.stringify(await db.collection(name).find({}).toArray());
    }
    const compact = code.replace(/-/g, '');
    expect(dump.length).toBeGreaterThan(1000);
    expect(dump).not.toContain(compact);
    expect(dump).not.toContain(code);
    expect(dump.toLowerCase()).not.toContain(compact.toLowerCase());
    expect(testApp().logs.join('\n')).not.toContain(compact);
  });

  it('sends each expiry reminder once, to unused codes only, and retries failed notices', async () => {
    const t = Date.now();
    const program = await createProgram(
      deps,
      programInput({ redeemUntil: new Date(t + 5 * HOUR), remindBeforeHours: 12 }),
      'staff-1',
    );
    const unused = vip();
    const used = vip();
    await claimCode(deps, { programId: program._id, profileId: unused, via: 'keyword' });
    const usedCode = await claimCode(deps, { programId: program._id, profileId: used, via: 'keyword' });
    await redeemCode(deps, {
      code: usedCode.code,
      channel: 'chat',
      profileId: used,
      actor: `profile:${used}`,
      idempotencyKey: randomUUID(),
    });
    const runs = await Promise.all([sendDueReminders(deps), sendDueReminders(deps), sendDueReminders(deps)]);
    await sendDueReminders(deps);
    const reminders = sent.filter((n) => n.kind === 'reminder' && n.programId === program._id);
    expect(reminders.map((n) => n.profileId)).toEqual([unused]);
    expect(reminders[0]?.code).toBeUndefined();
    expect(runs.reduce((sum, r) => sum + r.reminded, 0)).toBe(1);

    // A notice that could not be sent is retried by the next run, and then sent.
    notifierDown = true;
    const late = vip();
    try {
      await claimCode(deps, { programId: program._id, profileId: late, via: 'keyword' });
    } finally {
      notifierDown = false;
    }
    expect(sent.filter((n) => n.profileId === late)).toHaveLength(0);
    const [view] = await codesOfOwner(deps, late, { reveal: true });
    expect(view?.notices).toEqual([expect.objectContaining({ kind: 'issued', state: 'failed' })]);
    await sendDueReminders(deps);
    expect(
      sent
        .filter((n) => n.profileId === late)
        .map((n) => n.kind)
        .sort(),
    ).toEqual(['issued', 'reminder']);
  });
});
