# Security of running tasks: a task runs as its owner and cannot climb to the
# superuser, neither with SET ROLE / SET SESSION AUTHORIZATION nor by
# planting operators that the engine's own catalog writes (made as the
# superuser) would pick up through search_path; a task cannot reach a
# database its owner lacks CONNECT on; a role cannot run, wait on or cancel
# another role's tasks and runs. (Privileges, RLS and search_path shadowing
# of the SQL API are in sql/security.sql; the HTTP allow list, including
# redirects, in t/020_http.pl.)
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('security');
my $q = sub { $node->safe_psql('postgres', shift) };

$q->(q{CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN});
$q->(q{CREATE TABLE secret (x int); INSERT INTO secret VALUES (42)});

# Wait for a run and return "status|sqlstate|return_message".
sub run_task
{
	my ($name) = @_;
	my $run = $q->("SELECT uso_run_now('$name')");
	$q->("SELECT uso_wait($run, '30 seconds')");
	return $q->("SELECT status || '|' || coalesce(sqlstate, '') || '|' || coalesce(return_message, '')
		FROM uso_task_run WHERE id = $run");
}

# --- a task owned by a non-superuser runs as that role, all the way down
uso_task($node, name => 'whoami', schedule => '@manual', username => 'alice',
	command => q{SELECT session_user || '/' || current_user});
is(run_task('whoami'), 'succeeded||alice/alice', 'the task runs with session_user = current_user = owner');

for my $try (
	[ 'set_role',      q{SET ROLE postgres} ],
	[ 'set_session',   q{SET SESSION AUTHORIZATION postgres} ],
	[ 'set_local',     q{SET LOCAL ROLE postgres} ],
	[ 'set_config',    q{SELECT set_config('role', 'postgres', false)} ],
	[ 'read_secret',   q{SELECT x FROM secret} ],
	[ 'alter_self',    q{ALTER ROLE alice SUPERUSER} ],
	[ 'bypass_rls',    q{ALTER ROLE alice BYPASSRLS} ],
	[ 'grant_admin',   q{GRANT uso_admin TO alice} ],
	[ 'write_catalog', q{UPDATE uso_task SET username = 'postgres'} ])
{
	my ($name, $command) = @$try;
	uso_task($node, name => "esc_$name", schedule => '@manual', username => 'alice',
		command => $command);
	like(run_task("esc_$name"), qr/^failed\|42501\|/,
		"a task of alice cannot escalate: $command");
}
is($q->(q{SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'alice'}), 'f',
	'alice is still an ordinary role');
is($q->(q{SELECT pg_has_role('alice', 'uso_admin', 'MEMBER')}), 'f', 'alice is not in uso_admin');
is($q->(q{SELECT count(*) FROM uso_task WHERE username = 'postgres' AND name LIKE 'esc\_%'}), '0',
	'no task was moved to the superuser');

# --- search_path trojans: alice plants "=" operators for the types the
# engine compares in its catalog writes, then makes her task's session (or
# her role's default) search them before pg_catalog. The engine writes the
# catalog as the superuser; if it resolved operators through that
# search_path, her function would run as the superuser.
$q->(q{CREATE SCHEMA evil AUTHORIZATION alice});
$node->safe_psql('postgres', q{
	SET ROLE alice;
	CREATE TABLE evil.calls (who name, at timestamptz DEFAULT clock_timestamp());
	GRANT INSERT ON evil.calls TO PUBLIC;
	CREATE FUNCTION evil.note() RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO evil.calls (who) VALUES (current_user);
		IF current_user <> 'alice' THEN
			BEGIN
				EXECUTE 'ALTER ROLE alice SUPERUSER';
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
		END IF;
	END $$;
	CREATE FUNCTION evil.eq_b(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM evil.note(); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE FUNCTION evil.ne_b(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM evil.note(); RETURN a OPERATOR(pg_catalog.<>) b; END $$;
	CREATE FUNCTION evil.eq_i(a integer, b integer) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM evil.note(); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE FUNCTION evil.eq_t(a text, b text) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM evil.note(); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq_b);
	CREATE OPERATOR evil.<> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.ne_b);
	CREATE OPERATOR evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.eq_i);
	CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq_t);
});
# The trap works when called in alice's own session (so the test is real).
$node->safe_psql('postgres', q{SET ROLE alice; SET search_path = evil, pg_catalog;
	SELECT 1::bigint = 1::bigint});
is($q->(q{SELECT count(*) FROM evil.calls WHERE who = 'alice'}), '1', 'the trap fires for alice herself');
$q->(q{DELETE FROM evil.calls});

uso_task($node, name => 'trojan_session', schedule => '@manual', username => 'alice',
	command => q{SET search_path = evil, pg_catalog; DO $d$ BEGIN RAISE NOTICE 'hi'; END $d$; SELECT 1::bigint = 1::bigint});
like(run_task('trojan_session'), qr/^succeeded\|/, 'a task that moves its search_path runs');
uso_task($node, name => 'trojan_session_fail', schedule => '@manual', username => 'alice',
	command => q{SET search_path = evil, pg_catalog; SELECT 1 / 0});
like(run_task('trojan_session_fail'), qr/^failed\|22012\|/, 'and one that then fails is recorded');

$q->(q{ALTER ROLE alice SET search_path = evil, pg_catalog});
uso_task($node, name => 'trojan_role', schedule => '@manual', username => 'alice',
	command => q{DO $d$ BEGIN RAISE NOTICE 'hi'; END $d$});
like(run_task('trojan_role'), qr/^succeeded\|/, 'a task of a role whose default search_path is a trap runs');
uso_task($node, name => 'trojan_role_fail', schedule => '@manual', username => 'alice',
	command => q{SELECT 1 / 0});
like(run_task('trojan_role_fail'), qr/^failed\|22012\|/, 'and its failure is recorded');

is($q->(q{SELECT count(*) FROM evil.calls WHERE who <> 'alice'}), '0',
	'no planted operator ran as anyone but alice');
is($q->(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'}), 'f', 'alice did not become superuser');
$q->(q{ALTER ROLE alice RESET search_path});

# --- the same trap set by a database owner for the scheduler: alice owns a
# database and makes its default search_path start with her schema. The
# scheduler (connected as the superuser) reads the database's settings when
# it starts; it must not resolve its operators through them.
$q->(q{CREATE DATABASE alicedb OWNER alice});
$node->safe_psql('alicedb', 'CREATE EXTENSION uso_tasks');
$node->safe_psql('alicedb', q{
	SET ROLE alice;
	CREATE SCHEMA evil;
	CREATE TABLE evil.calls (who name, at timestamptz DEFAULT clock_timestamp());
	GRANT INSERT ON evil.calls TO PUBLIC;
	CREATE FUNCTION evil.note() RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO evil.calls (who) VALUES (current_user);
		IF current_user <> 'alice' THEN
			BEGIN
				EXECUTE 'ALTER ROLE alice SUPERUSER';
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
		END IF;
	END $$;
	CREATE FUNCTION evil.eq_b(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM evil.note(); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE FUNCTION evil.ne_b(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM evil.note(); RETURN a OPERATOR(pg_catalog.<>) b; END $$;
	CREATE FUNCTION evil.eq_t(a text, b text) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM evil.note(); RETURN a OPERATOR(pg_catalog.=) b; END $$;
	CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq_b);
	CREATE OPERATOR evil.<> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.ne_b);
	CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq_t);
	ALTER DATABASE alicedb SET search_path = evil, public, pg_catalog;
});
# a restart makes every worker read the database setting
$node->restart;
uso_task($node, _db => 'alicedb', name => 'ticker', schedule => '1 seconds', username => 'alice',
	command => q{SELECT 1});
uso_wait_for($node, q{SELECT count(*) >= 2 FROM uso_task_run WHERE finished_at IS NOT NULL},
	'a task in alice\'s database runs on schedule', 'alicedb');
my $drun = $node->safe_psql('alicedb', q{SELECT uso_run_now('ticker')});
$node->safe_psql('alicedb', "SELECT uso_wait($drun)");
$node->safe_psql('alicedb', q{UPDATE uso_task SET enabled = false});
# The scheduler connects as the superuser; it pins search_path to
# pg_catalog, pg_temp, so the database's search_path cannot reach its SQL.
is($node->safe_psql('alicedb', q{SELECT count(*) FROM evil.calls WHERE who <> 'alice'}), '0',
	'no operator planted through the database search_path ran as anyone but alice');
is($q->(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'}), 'f',
	'alice did not become superuser through the scheduler');
$q->(q{ALTER ROLE alice NOSUPERUSER});
$q->(q{ALTER DATABASE alicedb RESET search_path});

# --- a database alice may not connect to
$q->(q{CREATE DATABASE private});
$node->safe_psql('private', 'CREATE EXTENSION uso_tasks');
$node->safe_psql('private', q{CREATE TABLE secret (x int)});
# Created while alice may still connect; the CONNECT is revoked afterwards.
uso_task($node, _db => 'private', name => 'sneak', schedule => '@manual', username => 'alice',
	command => q{INSERT INTO secret VALUES (1)});
$q->(q{REVOKE CONNECT ON DATABASE private FROM PUBLIC});
my ($ret, $stdout, $stderr) = $node->psql('private', q{INSERT INTO uso_task (name, schedule, command, username)
	VALUES ('sneak2', '@manual', 'SELECT 1', 'alice')});
like($stderr, qr/does not have CONNECT privilege/, 'a task for a role without CONNECT is refused up front');
my $run = $node->safe_psql('private', q{SELECT uso_run_now('sneak')});
uso_wait_for($node, "SELECT finished_at IS NOT NULL FROM uso_task_run WHERE id = $run",
	'a run whose owner lacks CONNECT ends', 'private');
like($node->safe_psql('private', "SELECT status || '|' || coalesce(return_message, '') FROM uso_task_run WHERE id = $run"),
	qr/^failed\|.*(permission denied|CONNECT)/i, 'it fails with a permission error');
is($node->safe_psql('private', 'SELECT count(*) FROM secret'), '0', 'nothing was written there');

# --- another role's tasks and runs do not exist for bob
uso_task($node, name => 'alice_only', schedule => '@manual', username => 'alice', command => 'SELECT 1');
my $arun = $q->(q{SELECT uso_run_now('alice_only')});
$q->("SELECT uso_wait($arun)");
for my $call ("uso_run_now('alice_only')", "uso_run_at('alice_only', now() + interval '1 day')",
	"uso_wait($arun)", "uso_cancel($arun)")
{
	my ($rc, $out, $err) = $node->psql('postgres', "SET ROLE bob; SELECT $call");
	like($err, qr/does not exist/, "bob: $call is 'does not exist'");
}
is($node->safe_psql('postgres', q{SET ROLE bob; SELECT count(*) FROM uso_task_runs WHERE task = 'alice_only'}),
	'0', 'bob sees none of her runs');

# Nothing in the server log says the server crashed or an internal error.
my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|PANIC|terminated by signal|XX000/, 'no crash or internal error in the server log');

$node->stop;
done_testing();
