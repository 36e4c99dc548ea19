import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImportJob } from '../../src/crm/imports/model.js';
import { Identity } from '../../src/crm/identities/model.js';
import { Profile } from '../../src/crm/profiles/model.js';
import { ProfileTag } from '../../src/crm/tags/model.js';
import { useTestApp } from '../support/app.js';
import { mobile, rid } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'crm-import-'));

function csvFile(lines: string[]): string {
  const path = join(dir, `${rid()}.csv`);
  writeFileSync(path, `\uFEFF${lines.join('\n')}\n`);
  return path;
}

const mapping = {
  姓名: 'name',
  手机: 'phone',
  客户号: 'customerNo',
  性别: 'gender',
  等级: 'tier',
  标签: 'tags',
  风险: 'attr:risk',
};

describe('crm: CSV import', () => {
  const t = useTestApp({ CRM_IMPORT_CHECKPOINT_ROWS: '3' });

  async function givenFile() {
    const { crm } = t().deps;
    await crm.attributes
      .define({ key: 'risk', label: 'Risk', type: 'enum', allowedValues: ['low', 'high'] })
      .catch(() => undefined);
    const group = await crm.tags.createGroup({ name: `src-${rid(3)}` });
    const tagName = `expo-${rid(3)}`;
    await crm.tags.create({ groupId: group._id, name: tagName });
    const existingNo = `C${rid(4)}`;
    const existing = await crm.identities.resolve({
      identities: [crm.identities.of.customerNo(existingNo)],
      source: 'ingest:erp',
      seed: { stage: 'customer' },
    });
    const [p1, p2, p3] = [mobile(), mobile(), mobile()];
    const path = csvFile([
      '姓名,手机,客户号,性别,等级,标签,风险',
      `张三,${p1},,男,gold,${tagName},low`, // 1 new
      `李四,12345,,女,,,`, // 2 invalid phone
      `王五,${p2},,x,platinum,,`, // 3 invalid gender + tier
      `张三二,${p1},,,,,`, // 4 same phone as row 1
      `赵六,,${existingNo},,,${tagName},`, // 5 matches the existing customer
      `钱七,,,,,,`, // 6 no identity
      `孙八,${p3},,,,,medium`, // 7 bad attribute value
      `周九,+86 ${p3.slice(0, 3)} ${p3.slice(3)},C-${rid(3)},female,silver,,high`, // 8 new (phone written differently from 7, which was invalid)
    ]);
    return { path, existing, phones: [p1, p2, p3], tagName };
  }

  it('a dry run reports every row and writes no profile', async () => {
    const { crm } = t().deps;
    const { path } = await givenFile();
    const job = await crm.imports.create({ filePath: path, mapping, kind: 'lead', dryRun: true, createdBy: 'admin' });
    const done = await crm.imports.run(job._id);
    expect(done.state).toBe('completed');
    expect(done.counts).toEqual({ rows: 8, created: 2, matched: 2, invalid: 4 });
    expect(await Profile.countDocuments({ source: `import:${String(job._id)}` })).toBe(0);
    const report = await crm.imports.report(job._id);
    expect(report.issues.map((i) => [i.row, i.outcome])).toEqual([
      [2, 'invalid'],
      [3, 'invalid'],
      [4, 'matched'],
      [5, 'matched'],
      [6, 'invalid'],
      [7, 'invalid'],
    ]);
    expect(report.issues.find((i) => i.row === 3)?.reasons).toEqual([
      'gender: male, female or unknown (男/女)',
      'tier: one of standard, silver, gold, vip',
    ]);
    expect(report.issues.find((i) => i.row === 7)?.reasons).toEqual(['risk: expected one of low, high']);
  });

  it('an import creates the new customers once, links known ones, and never logs a phone', async () => {
    const { crm } = t().deps;
    const { path, existing, phones, tagName } = await givenFile();
    const job = await crm.imports.create({ filePath: path, mapping, kind: 'lead', dryRun: false, createdBy: 'admin' });
    const done = await crm.imports.run(job._id);
    expect(done.counts).toEqual({ rows: 8, created: 2, matched: 2, invalid: 4 });
    const created = await Profile.find({ source: `import:${String(job._id)}` })
      .sort({ name: 1 })
      .lean();
    expect(created.map((p) => [p.name, p.gender, p.tier, p.stage, p.attributes])).toEqual([
      ['周九', 'female', 'silver', 'lead', { risk: 'high' }],
      ['张三', 'male', 'gold', 'lead', { risk: 'low' }],
    ]);
    expect(created[1]!.phone?.masked).toBe(`${phones[0]!.slice(0, 3)}****${phones[0]!.slice(-4)}`);
    expect(await Identity.countDocuments({ profileId: { $in: created.map((c) => c._id) } })).toBe(3);
    // The known customer got the row's tag, and no second profile.
    expect(await ProfileTag.countDocuments({ profileId: existing.profileId })).toBe(1);
    expect((await crm.tags.of(created[1]!._id)).map((x) => x.name)).toEqual([tagName]);
    const logs = t().logs.join('\n');
    for (const p of phones) expect(logs).not.toContain(p);
    // Running it again changes nothing.
    expect((await crm.imports.run(job._id)).counts).toEqual(done.counts);
  });

  it('resumes from its checkpoint, and one runner at a time', async () => {
    const { crm, redis } = t().deps;
    const { path } = await givenFile();
    const job = await crm.imports.create({
      filePath: path,
      mapping,
      kind: 'customer',
      dryRun: false,
      createdBy: 'admin',
    });
    // As if a first run had done three rows (one checkpoint) and crashed.
    await ImportJob.updateOne(
      { _id: job._id },
      { $set: { state: 'failed', checkpoint: 3, counts: { rows: 3, created: 1, matched: 0, invalid: 2 } } },
    );
    await redis.set(`crm:import-lock:${String(job._id)}`, '1', 'EX', 60);
    await expect(crm.imports.run(job._id)).rejects.toMatchObject({ code: 'import_running' });
    await redis.del(`crm:import-lock:${String(job._id)}`);
    const done = await crm.imports.run(job._id);
    // Rows 4-8 only: row 1 was never written in this simulation, so row 4 (its phone) is new here.
    expect(done.counts).toEqual({ rows: 8, created: 3, matched: 1, invalid: 4 });
    expect((await crm.imports.report(job._id)).issues.every((i) => i.row > 3)).toBe(true);
  });

  it('refuses a mapping without a dedup column or with unknown fields', async () => {
    const { crm } = t().deps;
    await expect(
      crm.imports.create({
        filePath: 'x.csv',
        mapping: { 姓名: 'name' },
        kind: 'lead',
        dryRun: true,
        createdBy: 'admin',
      }),
    ).rejects.toMatchObject({ code: 'invalid_mapping' });
    await expect(
      crm.imports.create({
        filePath: 'x.csv',
        mapping: { 手机: 'phone', x: 'password' },
        kind: 'lead',
        dryRun: true,
        createdBy: 'admin',
      }),
    ).rejects.toMatchObject({ code: 'invalid_mapping' });
  });
});
