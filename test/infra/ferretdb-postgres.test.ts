import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { tunePostgresForFerretdb } from '../../src/infra/provision/ferretdb-postgres.js';

// The tuning works on PostgreSQL alone, so it is tested there, on a scratch database shaped the way FerretDB
// shapes its own: a schema per MongoDB database, a `_jsonb` column, btree indexes on `(_jsonb -> 'field')`.
const base = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-tA'];
const postgresHere = spawnSync('psql', [...base, '-c', 'select 1'], { encoding: 'utf8' }).stdout?.trim() === '1';
const database = `scrm_tune_${randomBytes(3).toString('hex')}`;

function sql(statements: string): string {
  const out = spawnSync('psql', [...base, '-d', database, '-f', '-'], { input: statements, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(out.stderr);
  return out.stdout.trim();
}

describe.skipIf(!postgresHere)('FerretDB on PostgreSQL: lookups through an index', () => {
  afterAll(() => {
    spawnSync('psql', [...base, '-c', `drop database if exists "${database}" with (force)`]);
  });

  it('gives each indexed field a GIN index that answers FerretDB-style containment, existing or new', () => {
    spawnSync('psql', [...base, '-c', `create database "${database}"`]);
    sql(`
      create schema shop;
      create table shop.codes_1a2b (_jsonb jsonb);
      create unique index codes_1a2b__id__idx on shop.codes_1a2b using btree ((_jsonb -> '_id'::text));
      insert into shop.codes_1a2b
        select jsonb_build_object('_id', jsonb_build_object('$o', md5(g::text)), 'owner', 'p' || (g % 500),
                                  'payout', jsonb_build_object('no', g))
        from generate_series(1, 20000) g;
    `);
    // Applied after the first index exists (back-filled) and before the next one (the trigger).
    expect(tunePostgresForFerretdb(database)).toBeUndefined();
    expect(tunePostgresForFerretdb(database)).toBeUndefined(); // idempotent
    sql(`
      create index codes_1a2b_owner_idx on shop.codes_1a2b using btree ((_jsonb -> 'owner'::text), (_jsonb -> '_id'::text));
      create index codes_1a2b_nested_idx on shop.codes_1a2b using btree (((_jsonb -> 'payout') -> 'no'));
      analyze shop.codes_1a2b;
    `);
    const gin = sql(
      `select indexdef from pg_indexes where schemaname = 'shop' and indexdef like '%USING gin%' order by 1`,
    );
    // One per top-level field (the compound index's two, the `_id` one shared); none for the nested path.
    const fields = [...gin.matchAll(/USING gin \(\(\(_jsonb -> '([^']+)'/g)].map((m) => m[1]).sort();
    expect(fields).toEqual(['_id', 'owner']);
    expect(gin).toContain('fastupdate');

    // FerretDB's own statement shape: the field name is a parameter, and a new session gets custom plans.
    const plan = sql(`
      prepare lookup(text, jsonb) as select _jsonb from shop.codes_1a2b where _jsonb -> $1 @> $2;
      explain (costs off) execute lookup('owner', '"p42"');
      explain (costs off) execute lookup('owner', '"p43"');
      explain (costs off) execute lookup('owner', '"p44"');
      explain (costs off) execute lookup('owner', '"p45"');
      explain (costs off) execute lookup('owner', '"p46"');
      explain (costs off) execute lookup('owner', '"p47"');
      explain (costs off) execute lookup('owner', '"p48"');
    `);
    const plans = plan.split('\n').filter((l) => /Scan/.test(l));
    expect(plans.length).toBeGreaterThanOrEqual(7);
    // The sixth and seventh executions are where PostgreSQL would switch to a generic plan (a sequential scan).
    expect(plans.every((l) => !/Seq Scan/.test(l))).toBe(true);
  });
});
