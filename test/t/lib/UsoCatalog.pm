# A snapshot of everything the extensions uso_tasks and uso_office define in
# a database, as (object => definition) pairs, and the differences between
# two snapshots.  test/t/090_upgrade.pl compares an upgraded database with a
# fresh install; any schema change that the update scripts miss shows up
# here by name.
#
# What is compared, for every member object of either extension:
#   - the object itself: which extension it belongs to, its owner, comment,
#     privileges (ACL) and initial privileges (pg_init_privs);
#   - tables: every column by name (type, NOT NULL, default,
#     identity/generated, collation, comment, column privileges; not its
#     position: sql/schema/ defines a table in its current shape, an update
#     appends the columns it adds, and no query of ours depends on the order),
#     constraints, indexes, triggers, policies, row-level security flags,
#     storage options (fillfactor) and whether pg_dump keeps its rows
#     (extconfig and its condition);
#   - functions and procedures: pg_get_functiondef (arguments, result,
#     language, volatility, strictness, SECURITY DEFINER, SET options, source);
#   - views: their query; sequences: their parameters; types: their shape;
#     event triggers: event, tags, function, enabled; schemas;
#   - the built-in tasks the extensions register (every column but id,
#     database and scheduler state), and the extensions' own settings (schema,
#     relocatable, version).
package UsoCatalog;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(uso_catalog_snapshot uso_catalog_diff uso_kept_rows);

my $snapshot_sql = <<'SQL';
WITH ext AS (
    SELECT e.oid, e.extname FROM pg_extension e WHERE e.extname IN ('uso_tasks', 'uso_office')
), member AS (
    SELECT d.classid, d.objid, d.objsubid, ext.extname, i.type, i.identity
      FROM pg_depend d JOIN ext ON d.refobjid = ext.oid
      CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) i
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
), rel AS (
    SELECT m.*, c.oid AS reloid FROM member m JOIN pg_class c ON c.oid = m.objid
     WHERE m.classid = 'pg_class'::regclass
), col AS (
    SELECT r.identity AS relname, r.reloid, a.*
      FROM rel r JOIN pg_attribute a ON a.attrelid = r.reloid AND a.attnum > 0 AND NOT a.attisdropped
)
SELECT key, val FROM (
    -- every member: extension, owner, comment, ACL, initial privileges
    SELECT m.type || ' ' || m.identity AS key,
           concat_ws(' | ', 'extension ' || m.extname,
                     'owner ' || pg_get_userbyid(COALESCE(
                         (SELECT relowner FROM pg_class WHERE m.classid = 'pg_class'::regclass AND oid = m.objid),
                         (SELECT proowner FROM pg_proc WHERE m.classid = 'pg_proc'::regclass AND oid = m.objid),
                         (SELECT typowner FROM pg_type WHERE m.classid = 'pg_type'::regclass AND oid = m.objid),
                         (SELECT nspowner FROM pg_namespace WHERE m.classid = 'pg_namespace'::regclass AND oid = m.objid),
                         (SELECT evtowner FROM pg_event_trigger WHERE m.classid = 'pg_event_trigger'::regclass AND oid = m.objid))),
                     'comment ' || quote_nullable(obj_description(m.objid, m.classid::regclass::text)),
                     'acl ' || COALESCE(
                         (SELECT relacl::text FROM pg_class WHERE m.classid = 'pg_class'::regclass AND oid = m.objid),
                         (SELECT proacl::text FROM pg_proc WHERE m.classid = 'pg_proc'::regclass AND oid = m.objid),
                         (SELECT typacl::text FROM pg_type WHERE m.classid = 'pg_type'::regclass AND oid = m.objid),
                         (SELECT nspacl::text FROM pg_namespace WHERE m.classid = 'pg_namespace'::regclass AND oid = m.objid),
                         '-'),
                     'init_privs ' || COALESCE((SELECT string_agg(ip.privtype::text || ':' || ip.initprivs::text, ',' ORDER BY ip.objsubid)
                                                  FROM pg_init_privs ip
                                                 WHERE ip.classoid = m.classid AND ip.objoid = m.objid), '-')) AS val
      FROM member m
    UNION ALL
    -- tables, views, sequences: kind, options, row-level security, pg_dump
    SELECT 'relation ' || r.identity,
           concat_ws(' | ', 'kind ' || c.relkind::text, 'options ' || COALESCE(c.reloptions::text, '-'),
                     'rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity,
                     'persistence ' || c.relpersistence::text,
                     'dumped ' || COALESCE((SELECT quote_nullable(e.extcondition[k])
                                              FROM pg_extension e, generate_subscripts(e.extconfig, 1) k
                                             WHERE e.extconfig[k] = c.oid), 'no'))
      FROM rel r JOIN pg_class c ON c.oid = r.reloid
    UNION ALL
    SELECT 'column ' || col.relname || '.' || quote_ident(col.attname),
           concat_ws(' | ', 'type ' || format_type(col.atttypid, col.atttypmod),
                     CASE WHEN col.attnotnull THEN 'not null' END,
                     'default ' || pg_get_expr(ad.adbin, ad.adrelid),
                     NULLIF('identity ' || col.attidentity::text, 'identity '),
                     NULLIF('generated ' || col.attgenerated::text, 'generated '),
                     'collation ' || COALESCE((SELECT collname FROM pg_collation WHERE oid = col.attcollation), '-'),
                     'comment ' || quote_nullable(col_description(col.attrelid, col.attnum)),
                     'acl ' || COALESCE(col.attacl::text, '-'))
      FROM col LEFT JOIN pg_attrdef ad ON ad.adrelid = col.attrelid AND ad.adnum = col.attnum
    UNION ALL
    SELECT 'constraint ' || r.identity || '.' || quote_ident(co.conname),
           concat_ws(' | ', pg_get_constraintdef(co.oid), 'comment ' || quote_nullable(obj_description(co.oid, 'pg_constraint')))
      FROM rel r JOIN pg_constraint co ON co.conrelid = r.reloid
    UNION ALL
    SELECT 'index ' || r.identity || '.' || quote_ident(ic.relname),
           concat_ws(' | ', pg_get_indexdef(ix.indexrelid), 'options ' || COALESCE(ic.reloptions::text, '-'),
                     'comment ' || quote_nullable(obj_description(ix.indexrelid, 'pg_class')))
      FROM rel r JOIN pg_index ix ON ix.indrelid = r.reloid JOIN pg_class ic ON ic.oid = ix.indexrelid
    UNION ALL
    SELECT 'trigger ' || r.identity || '.' || quote_ident(tg.tgname),
           concat_ws(' | ', pg_get_triggerdef(tg.oid), 'enabled ' || tg.tgenabled::text,
                     'comment ' || quote_nullable(obj_description(tg.oid, 'pg_trigger')))
      FROM rel r JOIN pg_trigger tg ON tg.tgrelid = r.reloid AND NOT tg.tgisinternal
    UNION ALL
    SELECT 'policy ' || r.identity || '.' || quote_ident(p.polname),
           concat_ws(' | ', 'cmd ' || p.polcmd::text, 'permissive ' || p.polpermissive,
                     'roles ' || (SELECT string_agg(CASE WHEN x = 0 THEN 'public' ELSE pg_get_userbyid(x) END, ',' ORDER BY 1)
                                    FROM unnest(p.polroles) x),
                     'using ' || pg_get_expr(p.polqual, p.polrelid), 'check ' || pg_get_expr(p.polwithcheck, p.polrelid),
                     'comment ' || quote_nullable(obj_description(p.oid, 'pg_policy')))
      FROM rel r JOIN pg_policy p ON p.polrelid = r.reloid
    UNION ALL
    SELECT 'view ' || r.identity || ' definition', pg_get_viewdef(r.reloid)
      FROM rel r JOIN pg_class c ON c.oid = r.reloid AND c.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'sequence ' || r.identity || ' definition',
           concat_ws(' | ', format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmax, s.seqmin,
                     s.seqcache, s.seqcycle,
                     'owned by ' || COALESCE((SELECT d.refobjid::regclass || '.' || a.attname
                                                FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                                               WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                                                 AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), '-'))
      FROM rel r JOIN pg_sequence s ON s.seqrelid = r.reloid
    UNION ALL
    SELECT m.type || ' ' || m.identity || ' definition', pg_get_functiondef(m.objid)
      FROM member m JOIN pg_proc p ON p.oid = m.objid AND m.classid = 'pg_proc'::regclass AND p.prokind <> 'a'
    UNION ALL
    SELECT m.type || ' ' || m.identity || ' definition',
           concat_ws(' | ', 'type ' || t.typtype::text, 'input ' || t.typinput::text,
                     'labels ' || (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid),
                     'attributes ' || (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum)
                                         FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
                     'base ' || format_type(t.typbasetype, t.typtypmod))
      FROM member m JOIN pg_type t ON t.oid = m.objid AND m.classid = 'pg_type'::regclass
    UNION ALL
    SELECT 'event trigger ' || ev.evtname || ' definition',
           concat_ws(' | ', ev.evtevent, 'function ' || ev.evtfoid::regprocedure, 'enabled ' || ev.evtenabled::text,
                     'tags ' || COALESCE(ev.evttags::text, '-'))
      FROM member m JOIN pg_event_trigger ev ON ev.oid = m.objid AND m.classid = 'pg_event_trigger'::regclass
    UNION ALL
    SELECT 'extension ' || e.extname,
           concat_ws(' | ', 'version ' || e.extversion, 'schema ' || e.extnamespace::regnamespace,
                     'relocatable ' || e.extrelocatable, 'owner ' || pg_get_userbyid(e.extowner),
                     'config ' || (SELECT count(*) FROM unnest(e.extconfig)),
                     'requires ' || COALESCE((SELECT string_agg(r.extname, ',' ORDER BY r.extname)
                                                FROM pg_depend d JOIN pg_extension r ON r.oid = d.refobjid
                                               WHERE d.classid = 'pg_extension'::regclass AND d.objid = e.oid
                                                 AND d.refclassid = 'pg_extension'::regclass), '-'))
      FROM pg_extension e WHERE e.extname IN ('uso_tasks', 'uso_office')
    UNION ALL
    -- the built-in tasks, as registered (ids and scheduler state differ by design)
    SELECT 'built-in task ' || t.name,
           concat_ws(' | ', t.extension, t.category, t.schedule, t.command, t.config::text, t.username,
                     t.enabled, t.timezone, t.timeout, t.max_retries, t.retry_delay, t.retry_after, t.keep_runs,
                     t.overlap, t.misfire, t.description, 'id<0 ' || (t.id < 0))
      FROM uso_task t WHERE t.builtin
) s
ORDER BY key;
SQL

# Snapshot of database $db on $node: a hash ref of object => definition.
sub uso_catalog_snapshot
{
	my ($node, $db) = @_;
	my $out = $node->safe_psql($db,
		"\\pset format unaligned\n\\pset fieldsep '\\x1f'\n\\pset recordsep '\\x1e'\n\\pset tuples_only on\n"
		  . $snapshot_sql);
	my %snap;
	for my $rec (split /\x1e/, $out)
	{
		next if $rec eq '';
		my ($key, $val) = split /\x1f/, $rec, 2;
		$val //= '';
		die "duplicate object in the catalog snapshot: $key" if exists $snap{$key};
		$snap{$key} = $val;
	}
	return \%snap;
}

# The differences between two snapshots, one line each, naming the object:
#   "only in <name_a>: <object>", "only in <name_b>: <object>",
#   "differs: <object>\n  <name_a>: ...\n  <name_b>: ..."
sub uso_catalog_diff
{
	my ($a, $b, $name_a, $name_b) = @_;
	my @diff;
	my %keys = map { $_ => 1 } (keys %$a, keys %$b);
	for my $k (sort keys %keys)
	{
		if (!exists $b->{$k}) { push @diff, "only in $name_a: $k"; }
		elsif (!exists $a->{$k}) { push @diff, "only in $name_b: $k"; }
		elsif ($a->{$k} ne $b->{$k})
		{
			push @diff, "differs: $k\n  $name_a: $a->{$k}\n  $name_b: $b->{$k}";
		}
	}
	return @diff;
}

# Every row an upgrade must keep, as a hash ref: the tasks (all but scheduler
# state), the runs and log lines up to run id $maxrun, and a digest of each
# table of schema uso.
sub uso_kept_rows
{
	# $before: an earlier snapshot; its columns are the ones compared, so that
	# columns an upgrade adds (with their defaults) do not count as changes.
	my ($node, $db, $maxrun, $before) = @_;
	my %d;
	# The schedule, config and description of built-in tasks are the
	# extension's, which an upgrade may change (issue 17: daily CreateCallProjects);
	# built-in tasks 0.2 adds (issue 12: uso_deliver_alerts) are not 0.1's rows.
	$d{tasks} = $node->safe_psql($db, q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s', id, name,
		CASE WHEN builtin THEN '(built in)' ELSE schedule END, command,
		username, enabled, builtin), E'\n' ORDER BY name) FROM uso_task
		WHERE NOT (builtin AND name = ANY (ARRAY['uso_deliver_alerts']))});
	$d{runs} = $node->safe_psql($db, q{SELECT string_agg(format('%s|%s|%s|%s|%s', id, task_id, status, finished_at,
		return_message), E'\n' ORDER BY id) FROM uso_task_run WHERE id <= } . $maxrun);
	$d{logs} = $node->safe_psql($db, q{SELECT string_agg(format('%s|%s|%s', run_id, seq, message), E'\n' ORDER BY run_id, seq)
		FROM uso_task_log WHERE run_id <= } . $maxrun);
	for my $t (split /\n/, $node->safe_psql($db, q{SELECT c.oid::regclass FROM pg_class c
		WHERE c.relnamespace = 'uso'::regnamespace AND c.relkind = 'r' ORDER BY 1::text}))
	{
		my $cols = $before ? $before->{cols}{$t} : $node->safe_psql($db,
			"SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
			 WHERE attrelid = '$t'::regclass AND attnum > 0 AND NOT attisdropped");
		$d{cols}{$t} = $cols;
		$d{$t} = $node->safe_psql($db, "SELECT md5(COALESCE(string_agg(x::text, E'\\n' ORDER BY x::text), ''))
			FROM (SELECT $cols FROM $t) x");
	}
	return \%d;
}

1;
