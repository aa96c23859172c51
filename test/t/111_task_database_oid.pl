# Issue 21 part 3: a task naming another database is bound to its OID.
# After ALTER DATABASE ... RENAME it follows the database (the admin view
# shows the name now); after DROP DATABASE it is missing; and when a role
# with CREATEDB creates a database of that name again, the task does not
# run in it, and its first run there says why.  Before the fix the task ran
# in the squatter's database.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('task_database_oid', 'uso_tasks.enabled = off');
my $q = sub { $node->safe_psql('postgres', shift) };
my $as = sub { my ($role, $sql) = @_; $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]) };
# The view checks: an error is a failed check, not the end of the test.
my $view = sub
{
	my ($sql) = @_;
	my $out = '';
	$node->psql('postgres', $sql, stdout => \$out, extra_params => [ '-U', 'alice' ]);
	return $out;
};
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin;
	CREATE ROLE alice LOGIN; CREATE ROLE squatter LOGIN CREATEDB; CREATE DATABASE plain});

$as->('alice', q{SELECT uso_schedule('report', '@manual', 'SELECT current_database()::text',
	database => 'plain')});
sub run_report
{
	my $run = $as->('alice', q{SELECT uso_run_now('report')});
	my $status = $as->('alice', "SELECT uso_wait($run)");
	return $status . ': ' . $as->('alice', "SELECT return_message FROM uso_task_runs WHERE id = $run");
}
is(run_report(), 'succeeded: plain', 'the task runs in plain');

# --- a rename is followed and shown
$q->(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'plain'});
$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'plain'});
$q->(q{ALTER DATABASE plain RENAME TO plainx});
is(run_report(), 'succeeded: plainx', 'after the rename it runs in the renamed database');
is($view->(q{SELECT database || ' ' || status FROM uso_background_tasks WHERE name = 'report'}),
	'plainx idle', 'the admin view shows the database by its name now');

# --- a dropped database makes the task missing
$q->(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'plainx'});
$node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = 'plainx'});
$q->(q{DROP DATABASE plainx});
is($view->(q{SELECT status || ': ' || status_detail FROM uso_background_tasks WHERE name = 'report'}),
	'missing: database "plain", which it runs in, was dropped', 'the dropped database makes it missing');

# --- a squatter re-creates the name: the task does not run there
$node->safe_psql('postgres', 'CREATE DATABASE plain', extra_params => [ '-U', 'squatter' ]);
like(run_report(), qr/^failed: database "plain", which the task was scheduled in, was dropped, and the database of that name now \(OID \d+\) is another one: the task does not run in it/,
	'its first run after the re-creation fails, saying why');
like(run_report(), qr/^failed: database "plain", which the task was scheduled in, was dropped/,
	'and so does the next: it never runs in the squatter\'s database');
is($view->(q{SELECT status || ': ' || status_detail FROM uso_background_tasks WHERE name = 'report'}),
	'missing: database "plain", which it runs in, was dropped; the database of that name now is another one, and the task does not run in it',
	'the admin view says so');
is($q->(q{SELECT count(*) FROM pg_stat_activity WHERE datname = 'plain' AND backend_type = 'uso_tasks worker'}),
	'0', 'no worker connected to the squatter\'s database');

# --- naming the database again (scheduling anew) binds to the new one
$as->('alice', q{SELECT uso_unschedule('report');
	SELECT uso_schedule('report', '@manual', 'SELECT current_database()::text', database => 'plain')});
is(run_report(), 'succeeded: plain', 'scheduled anew, it runs in the database of that name now');

done_testing();
