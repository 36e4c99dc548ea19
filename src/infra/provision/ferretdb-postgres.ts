/**
 * Makes FerretDB 1.24's PostgreSQL backend use indexes for lookups. FerretDB turns every index into a btree on
 * `(_jsonb -> 'field')`, but it queries `_jsonb -> $1 @> $2` (containment), which a btree cannot answer
 * (FerretDB issue #4646): every find, even by `_id`, was a sequential scan of the whole table, and point
 * lookups grew with the collection (measured: 48 ms by `_id` at 80,000 documents, 1.4 ms with this).
 *
 * Two settings on the database FerretDB keeps its data in, applied by the project's own provisioning only
 * (production runs MongoDB, whose indexes work):
 *  - an event trigger that gives each FerretDB index field a GIN index on the same expression, which does
 *    answer `@>` (fastupdate off, so fresh rows are found through the index, not a pending list); existing
 *    indexes get theirs when this runs;
 *  - `plan_cache_mode = force_custom_plan`: FerretDB passes the field name as a statement parameter, and
 *    only a plan made with the parameter's value can match the index expression.
 * Uniqueness still rests on FerretDB's own unique btrees; results are unchanged, only how rows are found.
 */
import { spawnSync } from 'node:child_process';

const SQL = String.raw`
CREATE OR REPLACE FUNCTION scrm_ferretdb_gin_for(index_oid oid) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  idx record;
  k int;
  field text;
BEGIN
  SELECT i.indexrelid, i.indnatts, c.relname AS tbl, n.nspname AS sch, am.amname
    INTO idx
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE i.indexrelid = index_oid;
  IF NOT FOUND OR idx.amname <> 'btree' OR idx.tbl LIKE '\_ferretdb%' THEN RETURN; END IF;
  FOR k IN 1..idx.indnatts LOOP
    -- Top-level fields only: (_jsonb -> 'field'::text).
    field := substring(pg_get_indexdef(idx.indexrelid, k, true) FROM '^\(?_jsonb -> ''([^'']+)''::text\)?$');
    CONTINUE WHEN field IS NULL;
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin ((_jsonb -> %L)) WITH (fastupdate = off)',
      left(idx.tbl, 40) || '_' || left(md5(field), 10) || '_gin', idx.sch, idx.tbl, field);
  END LOOP;
END
$fn$;

CREATE OR REPLACE FUNCTION scrm_ferretdb_gin() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
DECLARE
  cmd record;
BEGIN
  FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE INDEX' LOOP
    PERFORM scrm_ferretdb_gin_for(cmd.objid);
  END LOOP;
END
$fn$;

DO $do$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'scrm_ferretdb_gin') THEN
    CREATE EVENT TRIGGER scrm_ferretdb_gin ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
      EXECUTE FUNCTION scrm_ferretdb_gin();
  END IF;
END
$do$;

SELECT count(scrm_ferretdb_gin_for(i.indexrelid))
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname NOT LIKE 'pg\_%';
`;

/**
 * Applies the settings above to `database` through psql (superuser, as the local trust setup gives).
 * Returns an error line when they could not be applied: FerretDB still works then, only slower.
 */
export function tunePostgresForFerretdb(database: string): string | undefined {
  const base = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-q'];
  const setting = spawnSync(
    'psql',
    [...base, '-c', `ALTER DATABASE "${database}" SET plan_cache_mode = force_custom_plan`],
    { encoding: 'utf8', timeout: 10_000 },
  );
  if (setting.status !== 0) return setting.stderr.trim() || 'psql failed';
  // Once per database; concurrent runs are fine (CREATE OR REPLACE, the trigger guarded, IF NOT EXISTS).
  const trigger = spawnSync('psql', [...base, '-d', database, '-f', '-'], {
    input: SQL,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (trigger.status !== 0) return trigger.stderr.trim() || 'psql failed';
  return undefined;
}
