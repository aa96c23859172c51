# The trust boundary cannot go stale (issue 21): the database owner, an
# unprivileged role who may CREATE in public, plants an overload of every
# function and operator name the extension's SQL calls -- with name, varchar,
# text for untyped literals, anyelement and the exact argument types, in
# public and in the "$user" schemas of the superuser and of another role
# (which she may create) -- and every path is driven: runs that succeed,
# fail, time out, retry, are cancelled, run once or on schedule; chains,
# alerts, retention, the pack's tasks, an admin's calls, the import from
# pg_cron and its compatibility layer, and ALTER EXTENSION UPDATE from 0.1.
# None of the planted code may ever run as any role but her own, and every
# run must be recorded with its right status.
#
# The names are derived here, not listed: t/lib/called_names.py reads the
# installed scripts and the built library; t/lib/planted_signatures.sql adds
# every function of both extensions and finds the real signatures; the
# planted functions (t/lib/plant_overloads.sql) record each call from
# another role in the server log and return what the real function returns.
# The test's own calls go through wrappers in schema uso_test whose
# SQL-standard bodies were bound before the planting (in the upgraded
# database: after it, by exact types and names), so only the extension's
# own name lookups can meet the planted code.  Overloads that would make a
# call ambiguous rather than hijack it are planted in a second round, so a
# break does not hide a hijack further down the same path.  Calls from
# pg_cron's own workers are not ours and are only noted.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoFixtures;
use Time::HiRes qw(time usleep);

my $t0 = time;
my $smtp = UsoFixtures::start_smtp();
my $node = PostgreSQL::Test::Cluster->new('planted');
$node->init;
$node->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'pg_cron,uso_tasks'",
	"max_worker_processes = 32",
	"wal_level = replica",
	"uso_tasks.smtp_url = '$smtp->{url}'",
	"uso_tasks.http_allowed_hosts = '127.0.0.1'"));
$node->start;

# The observer (the superuser) never resolves a name through a schema the
# attacker writes: pg_catalog only, tables qualified.
sub obs { my ($db, $sql) = @_; return $node->safe_psql($db, "SET search_path = pg_catalog;\n$sql"); }
# A role's session, with its default search_path, calling only uso_test.*.
sub as_role { my ($db, $role, $sql) = @_; return $node->safe_psql($db, $sql, extra_params => [ '-U', $role ]); }

# -- the roles, the databases (owned by the attacker), pg_cron's jobs
$node->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN; CREATE ROLE alice LOGIN; CREATE ROLE adm LOGIN;
CREATE DATABASE app OWNER mallory; CREATE DATABASE old OWNER mallory;});
$node->append_conf('postgresql.conf', "cron.database_name = 'app'");
$node->restart;
# (a restart stops schedulers "due to administrator command", exit code 1:
# the check of schedulers exiting on errors reads the log from here on)
my $log_from = -s $node->logfile;
$node->safe_psql('app', q{
CREATE EXTENSION pg_cron;
GRANT USAGE ON SCHEMA cron TO alice;
SELECT cron.schedule('nightly', '0 3 * * *', 'SELECT 1');});
as_role('app', 'alice', q{SELECT cron.schedule('alice-job', '0 5 * * *', 'SELECT 5')});
$node->safe_psql('app', q{CREATE EXTENSION uso_tasks; CREATE EXTENSION uso_office; GRANT uso_admin TO adm});

# -- the test's own entry points, bound now, before anything is planted
my $wrappers = q{
CREATE SCHEMA uso_test;
GRANT USAGE ON SCHEMA uso_test TO PUBLIC;
CREATE FUNCTION uso_test.schedule(n text, s text, c text, tmo interval DEFAULT NULL, retries integer DEFAULT NULL,
    rdelay interval DEFAULT NULL, keep integer DEFAULT NULL, mail text DEFAULT NULL) RETURNS bigint
BEGIN ATOMIC
    SELECT public.uso_schedule(name => n, schedule => s, command => c, timeout => tmo, max_retries => retries,
        retry_delay => rdelay, keep_runs => keep, alert_mail_to => mail);
END;
CREATE FUNCTION uso_test.run_now(n text) RETURNS bigint BEGIN ATOMIC SELECT public.uso_run_now(n); END;
CREATE FUNCTION uso_test.wait(id bigint, t interval) RETURNS text BEGIN ATOMIC SELECT public.uso_wait(id, t); END;
CREATE FUNCTION uso_test.run_at(n text, t timestamptz) RETURNS bigint BEGIN ATOMIC SELECT public.uso_run_at(n, t); END;
CREATE FUNCTION uso_test.cancel(id bigint) RETURNS boolean BEGIN ATOMIC SELECT public.uso_cancel(id); END;
CREATE FUNCTION uso_test.disable(n text) RETURNS void BEGIN ATOMIC SELECT public.uso_disable(n); END;
CREATE FUNCTION uso_test.enable(n text) RETURNS void BEGIN ATOMIC SELECT public.uso_enable(n); END;
CREATE FUNCTION uso_test.unschedule(n text) RETURNS boolean BEGIN ATOMIC SELECT public.uso_unschedule(n); END;
};
my $import_wrappers = q{
CREATE FUNCTION uso_test.import_pg_cron() RETURNS text BEGIN ATOMIC SELECT public.uso_import_pg_cron(true, true); END;
CREATE FUNCTION uso_test.install_cron_compat() RETURNS void BEGIN ATOMIC SELECT public.uso_install_cron_compat(); END;
};
$node->safe_psql('app', $wrappers . $import_wrappers);

# -- what the extension calls, derived from what is installed
my $share = `pg_config --sharedir`; chomp $share;
my $pkglib = `pg_config --pkglibdir`; chomp $pkglib;
my @sources = (sort(glob("$share/extension/uso_tasks--*.sql")), sort(glob("$share/extension/uso_office--*.sql")),
	"$pkglib/uso_tasks.so");
my $called = `/usr/bin/python3 t/lib/called_names.py @sources`;
is($?, 0, 't/lib/called_names.py read ' . scalar(@sources) . ' scripts and the library');
my @fnames = $called =~ /^f (\S+)$/mg;
my @onames = $called =~ /^o (\S+)$/mg;
ok(scalar(grep { $_ eq 'uso_log_run' } @fnames) && scalar(grep { $_ eq '=' } @onames),
	scalar(@fnames) . ' function names and ' . scalar(@onames) . ' operator names found, uso_log_run and = among them');

my $sig_sql = slurp_file('t/lib/planted_signatures.sql');
my $names_arr = '{' . join(',', @fnames) . '}';
sub signatures { my ($db) = @_; return $node->safe_psql($db, $sig_sql, extra_params => [ '-v', "names=$names_arr" ]); }
# What the 0.2 scripts create in the extension's schema: never pre-empted.
my $reserved = obs('app', q{SELECT string_agg(format('(%L)', format('%I.%I(%s)', n.nspname, p.proname,
	oidvectortypes(p.proargtypes))), ',')
	FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_depend d ON d.objid = p.oid
	AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e' JOIN pg_extension e ON e.oid = d.refobjid
	WHERE e.extname IN ('uso_tasks', 'uso_office')});
my $plant_sql = slurp_file('t/lib/plant_overloads.sql');

# Where the attacker plants: public, and the "$user" schemas of the roles
# that run the extension's code (she owns the database: she may create a
# schema of any name).  Her own "$user" schema is only searched when she is
# the current user -- never a hit -- so it is left out.
my @targets = ('public', 'postgres', 'alice');
sub plant
{
	my ($db, $mode, @json) = @_;
	my $sql = "SET ROLE mallory;\nSET search_path = pg_catalog;\n"
	  . "CREATE SCHEMA IF NOT EXISTS mallory; CREATE SCHEMA IF NOT EXISTS postgres; CREATE SCHEMA IF NOT EXISTS alice;\n"
	  . "CREATE TEMP TABLE uso_sig (nsp text, name text, kind text, argtypes text[], nreq int, argnames text[],\n"
	  . "    is_variadic bool, rettype text, retset bool, table_result text, has_out bool);\n";
	$sql .= "INSERT INTO pg_temp.uso_sig SELECT * FROM json_populate_recordset(NULL::pg_temp.uso_sig, \$j\$$_\$j\$);\n"
	  for @json;
	$sql .= "CREATE TEMP TABLE uso_opname (name text); INSERT INTO pg_temp.uso_opname VALUES "
	  . join(',', map { "(\$o\$$_\$o\$)" } @onames) . ";\n";
	$sql .= "CREATE TEMP TABLE uso_target (nsp text); INSERT INTO pg_temp.uso_target VALUES "
	  . join(',', map { "('$_')" } @targets) . ";\n";
	$sql .= "CREATE TEMP TABLE uso_reserved (sig text); INSERT INTO pg_temp.uso_reserved VALUES $reserved;\n";
	$sql .= "CREATE TEMP TABLE uso_mode (mode text); INSERT INTO pg_temp.uso_mode VALUES ('$mode');\n";
	my ($ret, $out, $err) = $node->psql($db, $sql . $plant_sql, extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
	is($ret, 0, "the attacker plants ($mode) in database $db") or diag($err);
	my ($made) = $err =~ /planted (\d+) overloads/;
	note("database $db, $mode: planted " . ($made // 0) . ' overloads');
	return $made // 0;
}

# -- waiting, with a deadline; once something is broken, later waits of the
# same round are cut short (they would fail the same way, 30 s each)
my $broken = 0;
sub deadline { return $broken ? 3 : 30; }
sub wait_run
{
	my ($db, $role, $id) = @_;
	return "no run id" unless defined $id && $id =~ /^\d+$/;
	my ($ret, $out, $err) = $node->psql($db, "SELECT uso_test.wait($id, '" . deadline() . " s')",
		extra_params => [ '-U', $role ]);
	return $out if $ret == 0 && $out ne '';
	$broken = 1;
	$err =~ s/\n.*//s;
	return "no status ($err)";
}
sub poll
{
	my ($db, $sql) = @_;
	$sql = "SELECT $sql" unless $sql =~ /^\s*SELECT\b/i;
	my $end = time + deadline();
	while (time < $end)
	{
		return 1 if obs($db, $sql) eq 't';
		usleep(100_000);
	}
	$broken = 1;
	return 0;
}
sub try_role
{
	my ($db, $role, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql, extra_params => [ '-U', $role ]);
	$broken = 1 if $ret != 0;
	return $ret == 0 ? $out : "ERROR: $err";
}
sub runs_of
{
	my ($db, $task, $where) = @_;
	return qq{(SELECT count(*) FROM public.uso_task_run r JOIN public.uso_task t ON t.id = r.task_id
		WHERE t.name = '$task' AND $where)};
}

# The pack's tasks and the built-ins, as the superuser: their statuses
# before anything is planted are the right ones.
# They run only when the test says (no scheduled run of one can overlap the
# test's and end skipped).
obs('app', q{UPDATE public.uso_task SET schedule = '@manual' WHERE builtin});
my @pack = split /\n/, obs('app', q{SELECT name FROM public.uso_task WHERE builtin ORDER BY name});
sub run_builtins
{
	my ($db) = @_;
	my %st;
	for my $name (@pack)
	{
		my $id = try_role($db, 'postgres', "SELECT uso_test.run_now('$name')");
		$st{$name} = wait_run($db, 'postgres', $id);
	}
	return \%st;
}
my $baseline = run_builtins('app');
ok(scalar(keys %$baseline) >= 18, scalar(keys %$baseline) . ' built-in and pack tasks ran once before the planting');

# -- every path, as alice, the attacker herself and an admin
sub drive
{
	my ($db, $r) = @_;
	my $a = sub { try_role($db, 'alice', $_[0]) };
	$a->(qq{SELECT uso_test.schedule('ok_$r', '\@manual', 'SELECT 1')});
	$a->(qq{SELECT uso_test.schedule('next_$r', 'after ok_$r', 'SELECT 2')});
	$a->(qq{SELECT uso_test.schedule('fail_$r', '\@manual', 'SELECT 1/0', mail => 'alice\@example.org')});
	$a->(qq{SELECT uso_test.schedule('slow_$r', '\@manual', 'SELECT pg_catalog.pg_sleep(30)', tmo => '1 s')});
	$a->(qq{SELECT uso_test.schedule('retry_$r', '\@manual', 'SELECT 1/0', retries => 1, rdelay => '0 s')});
	$a->(qq{SELECT uso_test.schedule('long_$r', '\@manual', 'SELECT pg_catalog.pg_sleep(60)')});
	$a->(qq{SELECT uso_test.schedule('keep_$r', '\@manual', 'SELECT 3', keep => 1)});
	$a->(qq{SELECT uso_test.schedule('once_$r', '\@manual', 'SELECT 4')});
	$a->(qq{SELECT uso_test.schedule('tick_$r', '1 seconds', 'SELECT 5')});
	try_role($db, 'mallory', qq{SELECT uso_test.schedule('mine_$r', '\@manual', 'SELECT 1/0')});

	is(wait_run($db, 'alice', $a->("SELECT uso_test.run_now('ok_$r')")), 'succeeded', "$db/$r: a run that succeeds");
	ok(poll($db, runs_of($db, "next_$r", q{r.status = 'succeeded'}) . ' = 1'), "$db/$r: its follower in the chain runs");
	my $fail = $a->("SELECT uso_test.run_now('fail_$r')");
	is(wait_run($db, 'alice', $fail), 'failed', "$db/$r: a run that fails");
	is(obs($db, "SELECT sqlstate FROM public.uso_task_run WHERE id = " . ($fail =~ /^\d+$/ ? $fail : 0)), '22012',
		"$db/$r: recorded with its SQLSTATE");
	is(wait_run($db, 'alice', $a->("SELECT uso_test.run_now('slow_$r')")), 'timed_out', "$db/$r: a run that times out");
	my $retry = $a->("SELECT uso_test.run_now('retry_$r')");
	is(wait_run($db, 'alice', $retry), 'failed', "$db/$r: a run that fails and is retried");
	ok(poll($db, runs_of($db, "retry_$r", q{r.trigger = 'retry' AND r.status = 'failed'}) . ' = 1'),
		"$db/$r: its retry runs and fails");
	my $long = $a->("SELECT uso_test.run_now('long_$r')");
	ok(poll($db, "SELECT status = 'running' FROM public.uso_task_run WHERE id = " . ($long =~ /^\d+$/ ? $long : 0)),
		"$db/$r: a long run starts");
	is($a->("SELECT uso_test.cancel($long)"), 't', "$db/$r: uso_cancel") if $long =~ /^\d+$/;
	is(wait_run($db, 'alice', $long), 'cancelled', "$db/$r: the cancelled run is recorded cancelled");
	$a->(qq{SELECT uso_test.run_at('once_$r', pg_catalog.clock_timestamp() + '1 s'::interval)});
	ok(poll($db, runs_of($db, "once_$r", q{r.trigger = 'once' AND r.status = 'succeeded'}) . ' = 1'),
		"$db/$r: a one-off run at a time");
	ok(poll($db, runs_of($db, "tick_$r", q{r.trigger = 'schedule' AND r.status = 'succeeded'}) . ' >= 2'),
		"$db/$r: scheduled runs");
	is(wait_run($db, 'mallory', try_role($db, 'mallory', "SELECT uso_test.run_now('mine_$r')")), 'failed',
		"$db/$r: the attacker's own failing run");
	# an admin acts on alice's tasks
	is(wait_run($db, 'adm', try_role($db, 'adm', "SELECT uso_test.run_now('ok_$r')")), 'succeeded',
		"$db/$r: an admin runs another role's task");
	like(try_role($db, 'adm', "SELECT uso_test.disable('tick_$r'); SELECT uso_test.enable('tick_$r'); SELECT uso_test.disable('tick_$r')"), qr/^\s*$/,
		"$db/$r: an admin disables and enables another role's task");
	like(try_role($db, 'alice', 'SELECT count(*) FROM public.uso_background_tasks'), qr/^\d+$/, "$db/$r: uso_background_tasks");
	like(try_role($db, 'adm', 'SELECT count(*) FROM public.uso_task_runs'), qr/^\d+$/, "$db/$r: uso_task_runs");
	# retention: keep_runs 1 after housekeeping
	for (1 .. 3) { wait_run($db, 'alice', $a->("SELECT uso_test.run_now('keep_$r')")); }
	is(wait_run($db, 'postgres', try_role($db, 'postgres', "SELECT uso_test.run_now('uso_housekeeping')")), 'succeeded',
		"$db/$r: housekeeping");
	ok(poll($db, runs_of($db, "keep_$r", 'true') . ' = 1'), "$db/$r: retention keeps keep_runs runs");
	# alerts: the failure's mail goes out (its outbox row is written off the
	# run's path: deliver until it is sent, or the deadline)
	my $sent_sql = "SELECT count(*) > 0 AND bool_and(sent_at IS NOT NULL) FROM public.uso_alert_outbox WHERE task_name = 'fail_$r'";
	my $end = time + deadline();
	my $sent = 0;
	while (!$sent && time < $end)
	{
		wait_run($db, 'postgres', try_role($db, 'postgres', "SELECT uso_test.run_now('uso_deliver_alerts')"));
		$sent = obs($db, $sent_sql) eq 't';
		usleep(100_000) unless $sent;
	}
	ok($sent, "$db/$r: the failure's alert is delivered")
	  or diag('delivery: ' . obs($db, "SELECT string_agg(coalesce(last_error, 'not sent yet'), '; ') FROM public.uso_alert_outbox WHERE task_name = 'fail_$r'"));
	$a->(qq{SELECT uso_test.unschedule('long_$r')});
}

sub no_run_lost
{
	my ($db, $r) = @_;
	ok(poll($db, 'SELECT count(*) = 0 FROM public.uso_task_run WHERE finished_at IS NULL'), "$db/$r: no run left open");
	is(obs($db, q{SELECT count(*) FROM public.uso_task_run WHERE return_message LIKE 'interrupted%'
		OR return_message LIKE 'not started%'}), '0', "$db/$r: no run closed as interrupted");
}

# -- round 1: every overload that can hijack a call
my $app_sigs = signatures('app');
my $planted = plant('app', 'hijack', $app_sigs);
ok(obs('app', q{SELECT count(*) FROM mallory.planted WHERE sig LIKE 'public.uso_log_run(name, %'}) > 0,
	'the planting covers the attack of issue 21 (public.uso_log_run with a name first)');
drive('app', 'h');
my $after = run_builtins('app');
is_deeply($after, $baseline, 'every built-in and pack task ends as it did before the planting');
# pg_cron: import, drop it, the compatibility layer
like(try_role('app', 'postgres', 'SELECT uso_test.import_pg_cron()'), qr/\S/, 'uso_import_pg_cron() with overloads planted');
is(obs('app', q{SELECT count(*) FROM public.uso_task WHERE name IN ('nightly', 'alice-job', 'alice-job@alice')}), '2',
	'both pg_cron jobs are imported');
obs('app', 'DROP EXTENSION pg_cron');
is(try_role('app', 'postgres', 'SELECT uso_test.install_cron_compat()'), '', 'uso_install_cron_compat() with overloads planted');
# cron.* exists only now; bound with exact types, it cannot meet a planted overload
$node->safe_psql('app', q{
CREATE FUNCTION uso_test.cron_schedule(j text, s text, c text) RETURNS bigint BEGIN ATOMIC SELECT cron.schedule(j, s, c); END;
CREATE FUNCTION uso_test.cron_unschedule(j text) RETURNS boolean BEGIN ATOMIC SELECT cron.unschedule(j); END;
GRANT USAGE ON SCHEMA cron TO alice;});
like(try_role('app', 'alice', q{SELECT uso_test.cron_schedule('cron-job', '0 4 * * *', 'SELECT 6')}), qr/^\d+$/,
	'cron.schedule through the compatibility layer');
is(wait_run('app', 'alice', try_role('app', 'alice', "SELECT uso_test.run_now('cron-job')")), 'succeeded', 'the cron job runs');
is(wait_run('app', 'postgres', try_role('app', 'postgres', "SELECT uso_test.run_now('nightly')")), 'succeeded', 'an imported job runs');
is(try_role('app', 'alice', q{SELECT uso_test.cron_unschedule('cron-job')}), 't', 'cron.unschedule');
no_run_lost('app', 'h');

# -- round 2: the shorter exact forms that make calls ambiguous
$broken = 0;
plant('app', 'ambiguous', $app_sigs);
drive('app', 'a');
is_deeply(run_builtins('app'), $baseline, 'every built-in and pack task still ends as it did before the planting');
no_run_lost('app', 'a');

# -- the upgrade from 0.1, with everything planted before ALTER EXTENSION UPDATE
$broken = 0;
$node->safe_psql('old', q{CREATE EXTENSION uso_tasks VERSION '0.1'});
as_role('old', 'alice', q{SELECT uso_schedule('old_ok', '@manual', 'SELECT 1'); SELECT uso_schedule('old_fail', '@manual', 'SELECT 1/0')});
plant('old', 'all', $app_sigs, signatures('old'));
my ($ret, $out, $err) = $node->psql('old', 'ALTER EXTENSION uso_tasks UPDATE');
is($ret, 0, 'ALTER EXTENSION uso_tasks UPDATE from 0.1 with overloads planted') or diag($err);
SKIP:
{
	skip 'the update failed: nothing to run at 0.2', 1 if $ret != 0;
	is(obs('old', q{SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname LIKE 'uso%'}),
		'uso_office 0.2, uso_tasks 0.2', 'both extensions are at 0.2');
	# bound after the planting, with exact types: the real functions
	$node->safe_psql('old', $wrappers);
	is(wait_run('old', 'alice', try_role('old', 'alice', "SELECT uso_test.run_now('old_ok')")), 'succeeded', 'old: a task from 0.1 succeeds');
	is(wait_run('old', 'alice', try_role('old', 'alice', "SELECT uso_test.run_now('old_fail')")), 'failed', 'old: a task from 0.1 fails');
	is(wait_run('old', 'postgres', try_role('old', 'postgres', "SELECT uso_test.run_now('CreateCycles')")), $baseline->{CreateCycles},
		'old: a pack task ends as in a fresh install');
	drive('old', 'u');
	no_run_lost('old', 'u');
}

# -- the verdict: no planted code ran as anyone but the attacker
my $log = slurp_file($node->logfile);
my @exits = substr($log, $log_from) =~ /^.*background worker "uso_tasks scheduler" \(PID \d+\) exited with exit code 1$/mg;
is(scalar(@exits), 0, 'no uso_tasks scheduler exited on an error') or diag(join("\n", @exits[0 .. ($#exits < 2 ? $#exits : 2)]));
my (%hit, %foreign);
while ($log =~ /uso planted overload ran: (\S+\(.*?\)) current_user=(\S+) session_user=(\S+) backend=(.*?) database=(\S+) application=/mg)
{
	my ($sig, $cur, $ses, $bt, $db) = ($1, $2, $3, $4, $5);
	next if $cur eq 'mallory';
	# pg_cron's own background worker is not our code
	if ($bt =~ /^pg_cron/) { $foreign{"$sig as $cur ($bt)"}++; next; }
	$hit{"$sig ran as $cur (session user $ses, $bt, database $db)"}++;
}
note("pg_cron's own workers (not ours): $_ x$foreign{$_}") for sort keys %foreign;
my %broken;
# an ambiguous call in the engine's own statements (ERROR) or in a run (its LOG line)
$broken{$1}++ while $log =~ /(?:ERROR:  |SQLSTATE 42725: )((?:function|procedure|operator) .*?is not unique.*?)(?: at character \d+)?$/mg;
is(scalar(keys %hit), 0, 'no planted overload ever ran as another role than the attacker')
  or diag(join("\n", 'Planted code that ran in a privileged context:', map { "  $_ x$hit{$_}" } sort keys %hit));
diag(join("\n", 'Calls a planted overload made ambiguous (errors in the server log):',
	map { "  $_ x$broken{$_}" } sort keys %broken)) if %broken;
note(sprintf('planted %d overloads in app (round 1); runtime %.0f s', $planted, time - $t0));
done_testing();
