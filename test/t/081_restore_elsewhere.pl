# A restored copy runs at home: pg_dump of appdb restored as appdb2 gives
# appdb2 tasks that run in appdb2 (a task created without a database
# belongs to the database it is stored in, whatever that is called), while
# a task that names another database still runs there.  Before, the copy
# kept database = 'appdb' and appdb2's scheduler ran every task against the
# original as well.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('restore_elsewhere');
my $q = sub { $node->safe_psql(shift, shift) };

$q->('postgres', 'CREATE DATABASE appdb');
$q->('postgres', 'CREATE DATABASE otherdb');
for my $db ('appdb', 'otherdb')
{
	$q->($db, 'CREATE EXTENSION uso_tasks');
	$q->($db, q{UPDATE uso_task SET enabled = false WHERE builtin});
	$q->($db, q{CREATE TABLE hits (db name DEFAULT current_database(), task text)});
}
# A task created without a database, and one that runs in otherdb.  Their
# schedule is pg_cron's grammar, so cron.job lists them (not '@manual'), and
# fires on January 1st only: the test runs them by hand.
uso_task($node, _db => 'appdb', name => 'home', schedule => '0 3 1 1 *',
	command => q{INSERT INTO hits (task) VALUES ('home')});
uso_task($node, _db => 'appdb', name => 'away', schedule => '0 3 1 1 *', database => 'otherdb',
	command => q{INSERT INTO hits (task) VALUES ('away')});
is($q->('appdb', q{SELECT string_agg(name || '=' || coalesce(database, '(this database)'), ',' ORDER BY name)
	FROM uso_task WHERE NOT builtin}), 'away=otherdb,home=(this database)',
	'the default database is stored as "this database", another one by name');
is($q->('appdb', q{SELECT string_agg(jobname || '=' || database, ',' ORDER BY jobname)
	FROM cron.job WHERE jobname IN ('home', 'away')}), 'away=otherdb,home=appdb',
	'cron.job shows the name of the database either way');

my $dump = $node->basedir . '/appdb.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('appdb'), '-f', $dump ], 'pg_dump appdb');
$q->('postgres', 'CREATE DATABASE appdb2');
$node->command_ok([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-d', $node->connstr('appdb2'), '-f', $dump ],
	'restored as appdb2');
$q->('appdb2', q{UPDATE uso_task SET enabled = false WHERE builtin});
is($q->('appdb2', q{SELECT string_agg(jobname || '=' || database, ',' ORDER BY jobname)
	FROM cron.job WHERE jobname IN ('home', 'away')}), 'away=otherdb,home=appdb2',
	'in the copy, the default task belongs to appdb2 and the other still to otherdb');

# Run both in the copy: the effects land in appdb2 and otherdb, never appdb.
for my $name ('home', 'away')
{
	my $run = $q->('appdb2', "SELECT uso_run_now('$name')");
	uso_wait_for($node, "SELECT finished_at IS NOT NULL FROM uso_task_run WHERE id = $run",
		"the copy's run of $name ends", 'appdb2');
	is($q->('appdb2', "SELECT status || coalesce(' ' || return_message, '') FROM uso_task_run WHERE id = $run"),
		'succeeded INSERT 0 1', "the copy's $name succeeded");
}
is($q->('appdb2', q{SELECT string_agg(db || ':' || task, ',') FROM hits}), 'appdb2:home',
	'the default task ran in the restored copy');
is($q->('otherdb', q{SELECT string_agg(db || ':' || task, ',') FROM hits}), 'otherdb:away',
	'the explicit one still ran in its database');
is($q->('appdb', q{SELECT count(*) FROM hits}), '0', 'nothing ran in the original');

# The copy's scheduler also schedules it there: a task of the copy that
# runs every second writes only into the copy.
$q->('appdb2', q{UPDATE uso_task SET schedule = '1 seconds' WHERE name = 'home'});
uso_wait_for($node, q{SELECT count(*) >= 3 FROM hits WHERE task = 'home'},
	'the scheduled task of the copy runs in the copy', 'appdb2');
$q->('appdb2', q{UPDATE uso_task SET enabled = false WHERE name = 'home'});
is($q->('appdb', q{SELECT count(*) FROM hits}), '0', 'and never in the original');

$node->stop;
done_testing();
