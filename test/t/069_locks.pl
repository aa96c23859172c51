# No lock that a non-superuser can take stalls another role's runs (issue 9,
# item 4): an idle transaction holding a task row (uso_alter_task takes FOR
# UPDATE) delays only that task, and LOCK TABLE on the engine's tables in a
# mode stronger than ROW EXCLUSIVE is refused, also through a view.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use UsoNode;

my $node = uso_node('locks');
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin});
$q->(q{CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN});
$q->(q{CREATE TABLE bob_log (at timestamptz); GRANT INSERT ON bob_log TO bob});

uso_task($node, name => 'held', schedule => '1 seconds', username => 'alice', command => 'SELECT 1');
uso_task($node, name => 'steady', schedule => '1 seconds', username => 'bob',
	command => 'INSERT INTO bob_log VALUES (now())');
uso_wait_for($node, q{SELECT count(*) >= 2 FROM uso_task_runs WHERE task = 'steady' AND status = 'succeeded'},
	'steady runs');

# Wait (with a deadline of its own, so a stall fails in seconds, not minutes)
# until $query returns 't'.
sub within
{
	my ($seconds, $query) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		return 1 if $q->($query) eq 't';
		usleep(100_000);
	}
	return 0;
}

# --- alice's open transaction holds her task's row
my $alice = $node->background_psql('postgres', on_error_stop => 1, extra_params => [ '-U', 'alice' ]);
$alice->query_safe(q{BEGIN});
$alice->query_safe(q{SELECT uso_alter_task('held', timeout => '5 minutes')});
my $t0 = $q->(q{SELECT clock_timestamp()});
# 'held' is due every second from here on: the flush would wait for its row.
ok(within(20, qq{SELECT count(*) >= 3 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'steady' AND r.status = 'succeeded' AND r.queued_at > '$t0'}),
	"another role's task keeps running while alice holds her task's row");
is($q->(qq{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'steady' AND r.queued_at > '$t0' AND r.started_at - r.scheduled_for > interval '1 second'}),
	'0', 'and none of its runs started more than 1 s late');
my $held_before = $q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'held'});
$alice->query_safe(q{COMMIT});
ok(within(20, qq{SELECT count(*) > $held_before FROM uso_task_runs WHERE task = 'held' AND status = 'succeeded'}),
	'the held task runs again once the lock is gone');
is($q->(q{SELECT count(*) FROM (SELECT task_id, scheduled_for FROM uso_task_run
	WHERE trigger IN ('schedule', 'catchup') GROUP BY 1, 2 HAVING count(*) > 1) d}), '0',
	'no slot ran twice');
is($q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'held' AND status = 'queued'}) <= 1 ? 1 : 0, 1,
	'the held task did not pile up queued runs (overlap skip)');

# --- table locks stronger than ROW EXCLUSIVE: superusers only
$q->(q{CREATE SCHEMA bobs AUTHORIZATION bob; GRANT USAGE ON SCHEMA cron TO bob});
$node->safe_psql('postgres', q{CREATE VIEW bobs.all_tasks AS SELECT * FROM public.uso_task;
	CREATE VIEW bobs.nested AS SELECT * FROM bobs.all_tasks},
	extra_params => [ '-U', 'bob' ]);
for my $try (
	[ 'uso_task', 'ACCESS EXCLUSIVE' ],
	[ 'uso_task', 'SHARE' ],
	[ 'uso_task', 'EXCLUSIVE' ],
	[ 'uso_task_run', 'ACCESS EXCLUSIVE' ],
	[ 'uso_task_run', 'SHARE ROW EXCLUSIVE' ],
	[ 'cron.job_run_details', 'ACCESS EXCLUSIVE' ],
	[ 'bobs.all_tasks', 'ACCESS EXCLUSIVE' ],
	[ 'bobs.nested', 'EXCLUSIVE' ])
{
	my ($rel, $mode) = @$try;
	my ($ret, $out, $err) = $node->psql('postgres',
		"BEGIN; LOCK TABLE $rel IN $mode MODE; COMMIT;",
		extra_params => [ '-U', 'bob', '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/42501: only a superuser may lock/, "bob cannot LOCK $rel IN $mode MODE");
}
my ($ret, $out, $err) = $node->psql('postgres',
	q{BEGIN; LOCK TABLE uso_task IN ROW EXCLUSIVE MODE; COMMIT;}, extra_params => [ '-U', 'bob' ]);
is($ret, 0, 'ROW EXCLUSIVE (what a row write takes anyway) is allowed');
($ret, $out, $err) = $node->psql('postgres',
	q{BEGIN; LOCK TABLE uso_task IN ACCESS EXCLUSIVE MODE; COMMIT;});
is($ret, 0, 'a superuser may lock the catalog');

# The steady task never stopped during all that.
my $n = $q->(q{SELECT count(*) FROM uso_task_runs WHERE task = 'steady' AND status = 'succeeded'});
ok(within(20, qq{SELECT count(*) >= $n + 2 FROM uso_task_runs WHERE task = 'steady' AND status = 'succeeded'}),
	'steady still runs');

$alice->quit;
$q->(q{UPDATE uso_task SET enabled = false});
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE finished_at IS NULL}, 'nothing left open');
$node->stop;
done_testing();
