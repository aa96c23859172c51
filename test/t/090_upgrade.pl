# Upgrade in place from 0.1, and library and catalog out of step.
#
# A database at catalog 0.1 (the released install script, with the USO pack
# as part of uso_tasks) under this (0.2) library: its scheduler logs once what
# to run and waits, writing nothing, and the C API raises the same.  With
# tasks, runs, log lines, pg_cron jobs and the sample facility in schema uso,
# ALTER EXTENSION uso_tasks UPDATE while the scheduler runs: every row is
# kept, the pack becomes extension uso_office, scheduling resumes by itself.
# Then every member object of both extensions is compared with a fresh 0.2
# install of both in another database (test/t/lib/UsoCatalog.pm): any
# difference fails and is listed.  Last, a catalog newer than the library,
# with a run in flight: the run finishes and is recorded, the scheduler waits.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;
use UsoCatalog;
use Digest::MD5 qw(md5_hex);

my $fixtures = $ENV{USO_FIXTURES} // 'fixtures';
my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'uso_tasks'",
	"max_worker_processes = 32",
	"wal_level = replica",
	"uso_tasks.http_allowed_hosts = '127.0.0.1'"));
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE upgraded; CREATE DATABASE fresh; CREATE DATABASE engine');
my $u = sub { $node->safe_psql('upgraded', shift) };

# -- 0.1 is released: its install script is frozen
my $share = `pg_config --sharedir`;
chomp $share;
is(md5_hex(slurp_file("$share/extension/uso_tasks--0.1.sql")), '9bcb65ce5573f6ef09f3b126a016de5c',
	'uso_tasks--0.1.sql is the released script (generated from f5434e7), unchanged');

# -- 0.1's catalog under the 0.2 library
$u->(q{CREATE EXTENSION uso_tasks VERSION '0.1'});
is($u->(q{SELECT extversion FROM pg_extension WHERE extname = 'uso_tasks'}), '0.1',
	'CREATE EXTENSION uso_tasks VERSION 0.1 works');
is($u->(q{SELECT count(*) FROM uso_task WHERE builtin}), '18', '0.1 registers housekeeping and the 17 pack tasks');
my $waits = qr/uso_tasks scheduler of database "upgraded" waits: its catalog is version 0\.1, the library speaks 0\.2/;
ok(uso_poll_log($node, $waits), 'the scheduler logs that it waits for the catalog');
like(slurp_file($node->logfile), qr/HINT:  Run ALTER EXTENSION uso_tasks UPDATE in database "upgraded"\./,
	'and says what to run');
my ($ret, $out, $err) = $node->psql('upgraded', q{SELECT uso_run_now('uso_housekeeping')});
like($err, qr/ERROR:  uso_tasks catalog version 0\.1 does not match the library's version 0\.2/,
	'uso_run_now raises while the catalog is 0.1');
like($err, qr/HINT:  Run ALTER EXTENSION uso_tasks UPDATE in this database\./, 'with the same hint');

# Tasks (through the SQL API and pg_cron's), a role's task, history, USO data.
$u->(q{CREATE ROLE alice LOGIN; GRANT CREATE ON SCHEMA public TO alice;
	CREATE TABLE ticks (at timestamptz DEFAULT now()); GRANT INSERT ON ticks TO alice});
$u->(q{SELECT uso_schedule('tick', '1 seconds', 'INSERT INTO ticks DEFAULT VALUES')});
$u->(q{SELECT cron.schedule('nightly', '0 3 * * *', 'SELECT 1')});
$node->safe_psql('upgraded', q{SELECT uso_schedule('alice_job', '@daily', 'SELECT 2')}, extra_params => ['-U', 'alice']);
$u->(q{INSERT INTO uso_task_run (task_id, trigger, scheduled_for, started_at, finished_at, status, return_message)
	SELECT t.id, 'schedule', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', 'succeeded', 'done'
	FROM uso_task t WHERE t.name IN ('alice_job', 'nightly', 'CreateCycles');
	INSERT INTO uso_task_log (run_id, seq, level, message) SELECT r.id, 1, 'NOTICE', 'line of ' || r.id FROM uso_task_run r});
$node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('upgraded'),
	'-f', "$fixtures/uso_sample.sql"], 'the sample facility loads into schema uso');
# Woken by these writes, the scheduler still writes nothing.
is($u->(q{SELECT count(*) FROM uso_task WHERE last_run_at IS NOT NULL}), '0', 'no task has run');
is($u->(q{SELECT count(*) FROM ticks}), '0', 'the scheduler ran nothing under a 0.1 catalog');
# The pack's tasks would change schema uso once scheduling resumes: paused
# until the rows are compared.
$u->(q{UPDATE uso_task SET enabled = false WHERE builtin AND name <> 'uso_housekeeping'});
# What a DBA set: the schedule of a built-in task (0.2 changes its default),
# and a table privilege narrowed as the README's "Security" section shows.
$u->(q{UPDATE uso_task SET schedule = 'T01:00' WHERE name = 'NotifyProjects';
	REVOKE DELETE ON uso_task FROM PUBLIC});
# And privileges on a function and a view, which an update drops and creates
# again (sql/updates/drop_code.sql): docs/cron.md has DBAs grant cron.alter_job.
$u->(q{GRANT EXECUTE ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean) TO alice;
	REVOKE SELECT ON uso_task_runs FROM PUBLIC});
my $maxrun = $u->(q{SELECT max(id) FROM uso_task_run});
my $before = uso_kept_rows($node, 'upgraded', $maxrun);

# -- a view of a role's own built on one of ours: the update, which replaces
# our views, refuses with the list and changes nothing
$node->safe_psql('upgraded', q{CREATE VIEW public.my_runs AS SELECT id FROM uso_task_runs},
	extra_params => ['-U', 'alice']);
($ret, $out, $err) = $node->psql('upgraded', 'ALTER EXTENSION uso_tasks UPDATE');
like($err, qr/ERROR:  ALTER EXTENSION uso_tasks UPDATE replaces its functions and views, and these depend on them: view public\.my_runs/,
	'a view built on ours stops the update, naming it');
is($u->(q{SELECT extversion FROM pg_extension WHERE extname = 'uso_tasks'}), '0.1', 'and the catalog stays 0.1');
$u->(q{DROP VIEW public.my_runs});

# -- ALTER EXTENSION uso_tasks UPDATE while the scheduler runs (and waits)
($ret, $out, $err) = $node->psql('upgraded', 'ALTER EXTENSION uso_tasks UPDATE');
is($ret, 0, 'ALTER EXTENSION uso_tasks UPDATE works on a 0.1 database with data');
like($err, qr/NOTICE:  the USO task pack of uso_tasks 0\.1 is now extension uso_office/, 'it says the pack moved');
is($u->(q{SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension
	WHERE extname LIKE 'uso%'}), 'uso_office 0.2, uso_tasks 0.2', 'both extensions are at 0.2');
is_deeply(uso_kept_rows($node, 'upgraded', $maxrun, $before), $before, 'every task, run, log line and row of schema uso is kept');
is($u->(q{SELECT string_agg(name, ',' ORDER BY name) FROM uso_task WHERE extension = 'uso_tasks'}), 'uso_deliver_alerts,uso_housekeeping',
	'housekeeping and alert delivery belong to uso_tasks');
is($u->(q{SELECT count(*) FROM uso_task WHERE extension = 'uso_office'}), '17', 'the 17 pack tasks to uso_office');
ok(uso_poll_log($node, qr/uso_tasks catalog of database "upgraded" is now version 0\.2: scheduling resumes/),
	'the scheduler resumes by itself');
uso_wait_for($node, q{SELECT count(*) >= 2 FROM ticks}, 'scheduled runs continue', 'upgraded');
my $hk = $u->(q{SELECT uso_run_now('uso_housekeeping')});
is($u->("SELECT uso_wait($hk, '60 s')"), 'succeeded', 'uso_run_now works again');
my $logged = () = slurp_file($node->logfile) =~ /$waits/g;
is($logged, 1, 'the wait was logged once');
is($u->(q{SELECT schedule FROM uso_task WHERE name = 'NotifyProjects'}), 'T01:00',
	'the update keeps the schedule a DBA set on a built-in task');
is($u->(q{SELECT schedule FROM uso_task WHERE name = 'CreateCallProjects'}), 'T00:15',
	'and moves one still at 0.1\'s default to 0.2\'s');
is($u->(q{SELECT has_table_privilege('alice', 'uso_task', 'DELETE')}), 'f',
	'and keeps a table privilege the DBA revoked');
is($u->(q{SELECT has_table_privilege('alice', 'uso_task', 'SELECT')}), 't', 'and the ones it did not');
is($u->(q{SELECT has_function_privilege('alice', 'cron.alter_job(bigint,text,text,text,text,boolean)', 'EXECUTE')}), 't',
	'and the EXECUTE the DBA granted on a function it replaced');
is($u->(q{SELECT has_table_privilege('alice', 'uso_task_runs', 'SELECT')}), 'f',
	'and the SELECT the DBA revoked on a view it replaced');
# Back to the defaults, for the comparison with a fresh install (which also
# shows that the DBA's grants did not become the extension's: pg_init_privs).
$u->(q{UPDATE uso_task SET schedule = 'T00:30' WHERE name = 'NotifyProjects'; GRANT DELETE ON uso_task TO PUBLIC;
	REVOKE EXECUTE ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean) FROM alice;
	GRANT SELECT ON uso_task_runs TO PUBLIC});
$u->(q{SELECT uso_disable('tick'); UPDATE uso_task SET enabled = true WHERE builtin});

# -- the upgraded catalog equals a fresh install of both
$node->safe_psql('fresh', 'CREATE EXTENSION uso_office CASCADE');
my $a = uso_catalog_snapshot($node, 'upgraded');
my $b = uso_catalog_snapshot($node, 'fresh');
my @diff = uso_catalog_diff($a, $b, 'upgraded', 'fresh');
my $n = scalar keys %$b;
ok($n > 500, "the snapshot covers $n objects and sub-objects of both extensions");
is(scalar(@diff), 0, "upgraded catalog equals a fresh install ($n objects compared)")
  or diag(join("\n", 'The update scripts (sql/updates/: the deltas, drop_code.sql) miss:', @diff));
note("catalog comparison: $n objects compared, " . scalar(@diff) . ' differences');

# -- the split: the engine alone, and DROP EXTENSION uso_office
my $e = sub { $node->safe_psql('engine', shift) };
$e->('CREATE EXTENSION uso_tasks');
is($e->(q{SELECT string_agg(name, ',' ORDER BY name) FROM uso_task}), 'uso_deliver_alerts,uso_housekeeping',
	'uso_tasks alone registers only housekeeping and alert delivery');
is($e->(q{SELECT count(*) FROM pg_namespace WHERE nspname = 'uso'}), '0', 'and creates no schema uso');
# The role the pack's tasks run as: the creator by default, or uso_office.task_owner.
is($node->safe_psql('fresh', q{SELECT string_agg(DISTINCT username, ',') FROM uso_task WHERE extension = 'uso_office'}),
	'postgres', 'by default the pack\'s tasks run as the role that created uso_office');
$e->(q{CREATE ROLE office_runner LOGIN; SELECT uso_schedule('CreateCycles', '@manual', 'SELECT 1')});
($ret, $out, $err) = $node->psql('engine', 'CREATE EXTENSION uso_office');
like($err, qr/ERROR:  uso_office registers its tasks under names that are taken: CreateCycles/,
	'uso_office says which of its task names are taken');
$e->(q{SELECT uso_unschedule('CreateCycles');
	SET uso_office.task_owner = 'office_runner'; CREATE EXTENSION uso_office});
is($e->(q{SELECT string_agg(DISTINCT username, ',') FROM uso_task WHERE extension = 'uso_office'}), 'office_runner',
	'uso_office.task_owner names the role they run as');
my $cc = $e->(q{SELECT uso_run_now('CreateCycles')});
is($e->("SELECT uso_wait($cc, '60 s')"), 'succeeded', 'a pack task runs as that role, with its rights on schema uso');
$node->safe_psql('engine', q{UPDATE uso_task SET command = 'SELECT 0' WHERE name = 'CreateCycles'},
	extra_params => ['-U', 'office_runner']);
is($e->(q{SELECT command FROM uso_task WHERE name = 'CreateCycles'}), 'SELECT 0', 'its owner may change what it runs');
$e->(q{CREATE ROLE bystander LOGIN});
($ret, $out, $err) = $node->psql('engine', q{UPDATE uso_task SET command = 'SELECT 2' WHERE name = 'CreateCycles'},
	extra_params => ['-U', 'bystander']);
is($e->(q{SELECT command FROM uso_task WHERE name = 'CreateCycles'}), 'SELECT 0',
	'another role cannot change what it runs');
$e->(q{DROP EXTENSION uso_office});

$u->('DROP EXTENSION uso_office');
is($u->(q{SELECT string_agg(name, ',' ORDER BY name) FROM uso_task}), 'alice_job,nightly,tick,uso_deliver_alerts,uso_housekeeping',
	'DROP EXTENSION uso_office removes its tasks and leaves users\' tasks and the engine');
is($u->(q{SELECT count(*) FROM uso_task_run r LEFT JOIN uso_task t ON t.id = r.task_id WHERE t.id IS NULL}), '0',
	'with the history of its tasks');
is($u->(q{SELECT count(*) FROM uso_task_log l JOIN uso_task_run r ON r.id = l.run_id WHERE r.id <= } . $maxrun), '2',
	'users\' log lines are kept');
is($u->(q{SELECT count(*) FROM pg_namespace WHERE nspname = 'uso'}), '0', 'and its schema');

# -- a catalog newer than the library (ALTER EXTENSION to a newer version
# before the restart, or a package downgraded), with a run in flight
$e->(q{CREATE TABLE release (x int); GRANT SELECT ON release TO PUBLIC});
$e->(q{SELECT uso_schedule('slow', '@manual',
	$c$DO $b$ BEGIN WHILE NOT EXISTS (SELECT FROM release) LOOP PERFORM pg_sleep(0.02); END LOOP; END $b$$c$)});
my $slow = $e->(q{SELECT uso_run_now('slow')});
uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $slow", 'a run is in flight', 'engine');
$e->(q{UPDATE pg_extension SET extversion = '9.1' WHERE extname = 'uso_tasks'});
$e->(q{SELECT uso_schedule('wake', '@manual', 'SELECT 1')});    # wakes the scheduler
ok(uso_poll_log($node, qr/uso_tasks scheduler of database "engine" waits: its catalog is version 9\.1, the library speaks 0\.2/),
	'a scheduler under a newer catalog stops and waits');
like(slurp_file($node->logfile), qr/HINT:  The catalog is newer than the library: install uso_tasks 9\.1/,
	'saying which library to install');
($ret, $out, $err) = $node->psql('engine', q{SELECT uso_run_now('wake')});
like($err, qr/catalog version 9\.1 does not match the library's version 0\.2/, 'the API refuses too');
$e->(q{INSERT INTO release VALUES (1)});
uso_wait_for($node, "SELECT status = 'succeeded' AND finished_at IS NOT NULL FROM uso_task_run WHERE id = $slow",
	'the run in flight finishes and is recorded', 'engine');
$e->(q{UPDATE pg_extension SET extversion = '0.2' WHERE extname = 'uso_tasks'; SELECT uso_disable('wake')});
ok(uso_poll_log($node, qr/uso_tasks catalog of database "engine" is now version 0\.2: scheduling resumes/),
	'back in step, the scheduler resumes');
my $again = $e->(q{SELECT uso_run_now('slow')});
is($e->("SELECT uso_wait($again, '60 s')"), 'succeeded', 'and runs tasks');
unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal/, 'nothing crashed');
$node->stop;
done_testing();
