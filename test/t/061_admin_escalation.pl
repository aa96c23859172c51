# A member of uso_admin sees, runs and reschedules every task, but cannot
# change what a task executes or as whom: built-in tasks are owned by the
# superuser who installed the extension, so an admin who could rewrite their
# command (or take a task over) and then run it would become superuser.
# Every write path is tried here, each followed by a real run of the task;
# the admin must stay an ordinary role.  (Each refusal's SQLSTATE and message
# are in sql/security.sql.)
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_office_node('admin_escalation');
my $q = sub { $node->safe_psql('postgres', shift) };

$q->(q{CREATE ROLE esc_admin LOGIN IN ROLE uso_admin});
$q->(q{GRANT USAGE ON SCHEMA cron TO esc_admin});
$q->(q{GRANT EXECUTE ON FUNCTION cron.alter_job(bigint, text, text, text, text, boolean),
	cron.schedule_in_database(text, text, text, text, text, boolean) TO esc_admin});
# The built-in tasks run now and then on their own; nothing else should run
# them while the test does.
$q->(q{UPDATE uso_task SET schedule = '@manual' WHERE builtin});
is($q->(q{SELECT string_agg(DISTINCT username, ',') FROM uso_task
	WHERE name IN ('CreateCycles', 'SyncUsers', 'uso_housekeeping')}), 'postgres',
	'the built-in tasks run as the installing superuser');
my $cc = $q->(q{SELECT id FROM uso_task WHERE name = 'CreateCycles'});
my $before = $q->(q{SELECT md5(string_agg(concat_ws('|', id, command, config, database, username), ',' ORDER BY id))
	FROM uso_task});

my $evil = q{ALTER ROLE esc_admin SUPERUSER};
my @attacks = (
	[ 'UPDATE command', qq{UPDATE uso_task SET command = '$evil' WHERE name = 'CreateCycles'} ],
	[ 'UPDATE owner',   q{UPDATE uso_task SET username = current_user WHERE name = 'SyncUsers'} ],
	[ 'INSERT ON CONFLICT', qq{INSERT INTO uso_task (name, schedule, command) VALUES ('uso_housekeeping', '\@manual', '$evil')
		ON CONFLICT (name) DO UPDATE SET command = EXCLUDED.command} ],
	[ 'uso_alter_task', qq{SELECT uso_alter_task('uso_housekeeping', command => '$evil')} ],
	[ 'uso_schedule',   qq{SELECT uso_schedule('CreateCycles', '\@manual', '$evil')} ],
	[ 'cron.alter_job', qq{SELECT cron.alter_job($cc, command => '$evil')} ],
	[ 'cron.schedule_in_database', qq{SELECT cron.schedule_in_database('CreateCycles', '\@daily', '$evil',
		current_database(), 'postgres')} ],
	[ 'uso_import_pg_cron', q{SELECT uso_import_pg_cron()} ]);
for my $a (@attacks)
{
	my ($what, $sql) = @$a;
	my ($rc, $out, $err) = $node->psql('postgres', $sql, connstr => $node->connstr('postgres') . ' user=esc_admin');
	isnt($rc, 0, "the admin's $what is refused");
	like($err, qr/permission denied|only the owner|must be superuser|built-in task of uso_tasks, not a pg_cron job/,
		"$what: with a privilege error");
}
# Job names are per role, as in pg_cron: the admin's cron.schedule of the
# name makes a job of the admin's own, run as the admin, and CreateCycles
# stays as it was.
is($node->safe_psql('postgres', qq{SELECT cron.schedule('CreateCycles', '\@daily', '$evil') > 0},
		connstr => $node->connstr('postgres') . ' user=esc_admin'),
	't', "the admin's cron.schedule of a taken name makes a job of its own");
is($q->(q{SELECT string_agg(format('%s|%s', name, username), ',') FROM uso_task WHERE username = 'esc_admin'}),
	'CreateCycles@esc_admin|esc_admin', 'it runs as the admin, under a name of its own');
$node->safe_psql('postgres', q{SELECT cron.unschedule('CreateCycles')},
	connstr => $node->connstr('postgres') . ' user=esc_admin');
is($q->(q{SELECT md5(string_agg(concat_ws('|', id, command, config, database, username), ',' ORDER BY id))
	FROM uso_task}), $before, 'no task changed what it runs or as whom');

# The admin may still run them (each run executes the task's own command).
for my $name ('CreateCycles', 'SyncUsers', 'uso_housekeeping')
{
	my $run = $node->safe_psql('postgres', "SELECT uso_run_now('$name')",
		connstr => $node->connstr('postgres') . ' user=esc_admin');
	uso_wait_for($node, "SELECT finished_at IS NOT NULL FROM uso_task_run WHERE id = $run",
		"the admin's run of $name ends");
}
is($q->(q{SELECT rolsuper FROM pg_roles WHERE rolname = 'esc_admin'}), 'f',
	'the admin did not become superuser');
is($q->(q{SELECT count(*) FROM uso_task WHERE username = 'esc_admin'}), '0',
	'no task runs as the admin');

$node->stop;
done_testing();
