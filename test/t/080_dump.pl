# pg_dump keeps user tasks and their history and the USO pack's data; a
# restore into a new database does not duplicate the built-in tasks that
# CREATE EXTENSION uso_tasks and uso_office register.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_office_node('dump');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});
my $builtin = $q->(q{SELECT count(*) FROM uso_task WHERE builtin});
is($builtin, '19', "CREATE EXTENSION registered $builtin built-in tasks (housekeeping, alert delivery and the pack's 17)");
$q->(q{INSERT INTO uso.institution (name) VALUES ('Kept Institute')});
uso_task($node, name => 'mine', schedule => '@manual', command => q{DO $$ BEGIN RAISE NOTICE 'hello'; END $$});
my $run = $q->(q{SELECT uso_run_now('mine')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'a user task ran');

# Followers (issue 13): one of a built-in task, whose id the restore may
# change, and one whose predecessor comes later in the table.
uso_task($node, name => 'early', schedule => '@manual', command => 'SELECT 1');
uso_task($node, name => 'late', schedule => '@manual', command => 'SELECT 1');
$q->(q{UPDATE uso_task SET schedule = 'after late' WHERE name = 'early'});
uso_task($node, name => 'after_cycles', schedule => 'after CreateCycles fails', command => 'SELECT 1');
# and one whose task was deleted: it is restored missing, and everything else with it
uso_task($node, name => 'gone', schedule => '@manual', command => 'SELECT 1');
uso_task($node, name => 'orphan', schedule => 'after gone', command => 'SELECT 1');
$q->(q{DELETE FROM uso_task WHERE name = 'gone'});

my $dump = $node->basedir . '/dump.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump works');
$q->(q{CREATE DATABASE restored});
$node->command_ok([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-d', $node->connstr('restored'), '-f', $dump ],
	'the dump restores without errors');
my $r = sub { $node->safe_psql('restored', shift) };
is($r->(q{SELECT count(*) FROM uso_task WHERE builtin}), $builtin, 'built-in tasks are not duplicated');
is($r->(q{SELECT count(*) FROM uso_task WHERE name = 'mine'}), '1', 'the user task came back');
is($r->(q{SELECT string_agg(l.message, ',') FROM uso_task_log l JOIN uso_task_run r ON r.id = l.run_id
	JOIN uso_task t ON t.id = r.task_id WHERE t.name = 'mine'}), 'hello', 'with its runs and log lines');
is($r->(q{SELECT string_agg(name, ',') FROM uso.institution}), 'Kept Institute', 'the pack\'s data came back');
is($r->(q{SELECT count(*) FROM uso_task WHERE extension = 'uso_office'}), '17', 'uso_office registered its 17 tasks again');
is($r->(q{SELECT string_agg(t.name || ' ' || t.follows_on || ' ' || p.name, ', ' ORDER BY t.name)
	FROM uso_task t JOIN uso_task p ON p.id = t.follows_task_id}),
	'after_cycles failure CreateCycles, early success late', 'followers follow the same tasks after the restore');
is($r->(q{SELECT status FROM uso_background_tasks WHERE name = 'orphan'}), 'missing',
	'a follower of a deleted task comes back missing');
$node->stop;
done_testing();
