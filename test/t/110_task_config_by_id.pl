# Issue 21 part 2: a pack task reads its own config, by the id of the task
# the engine runs, never by name.  Once CleanRegistrations is renamed, any
# role may create a task of that name; before the fix the renamed pack task
# (running as the superuser) read the look-alike's {"max_age": "0 seconds"}
# and deleted fresh registrations.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_office_node('task_config_by_id');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin;
	CREATE ROLE mallory LOGIN;
	INSERT INTO uso.registration (email, username, created_at) VALUES
		('fresh@example.org', 'fresh', now()),
		('old@example.org', 'old', now() - interval '2 hours');});

# An admin renames the pack task; mallory takes the old name.
$q->(q{UPDATE uso_task SET name = 'CleanRegistrations_v2', config = '{"max_age": "1 hour"}',
	schedule = '@manual', enabled = true
	WHERE name = 'CleanRegistrations'});
$node->safe_psql('postgres', q{SELECT uso_schedule('CleanRegistrations', '@manual', 'SELECT 1',
	config => '{"max_age": "0 seconds"}')}, extra_params => [ '-U', 'mallory' ]);

is($q->(q{SELECT uso.task_config('CleanRegistrations', NULL)}), '{}',
	'outside a run, the look-alike is not the pack\'s task of that name');

my $run = $q->(q{SELECT uso_run_now('CleanRegistrations_v2')});
is($q->("SELECT uso_wait($run)"), 'succeeded', 'the renamed pack task ran');
is($q->("SELECT return_message FROM uso_task_run WHERE id = $run"), '1 registration(s) deleted',
	'it used its own config (max_age 1 hour): the old registration went');
is($q->(q{SELECT string_agg(username, ',') FROM uso.registration}), 'fresh',
	'the fresh registration is still there (the look-alike\'s max_age 0 was not used)');

done_testing();
