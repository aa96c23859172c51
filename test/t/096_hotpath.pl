# Issue 22: the run's bookkeeping leaves the hot path.  A mail server that
# accepts and never answers slows no task; a role holding its own task row
# stops nobody's alerts; alerts go out in the order of their events; every
# kind of alert is rate-limited and capped (issue 21 part 6); the counters
# stay exact though no run end writes them; a first iteration that fails
# keeps its @reboot run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use UsoNode;
use UsoFixtures;

# Polls $query until it returns 't' or $secs pass: for "N runs within a
# window" (the window is the assertion, not a wait for the scheduler).
sub within
{
	my ($node, $secs, $query) = @_;
	my $deadline = time() + $secs;
	while (time() < $deadline)
	{
		return 1 if $node->safe_psql('postgres', $query) eq 't';
		sleep(0.1);
	}
	return 0;
}

# ------------------------------------------------ a mail server that never answers
my $stall = UsoFixtures::start_smtp();
open(my $fh, '>', "$stall->{dir}/_mode") or die;
print $fh "stall\n";
close($fh);
my $a = uso_node('hang',
	"uso_tasks.smtp_url = '$stall->{url}'",
	"uso_tasks.alert_mail_to = 'ops\@example.org'",
	"uso_tasks.alert_interval = '1s'",
	"uso_tasks.http_timeout = '10min'");
$a->safe_psql('postgres', q{
	SELECT uso_schedule('boom', '1 seconds', 'SELECT 1/0');
	SELECT uso_schedule('tick', '1 seconds', 'SELECT 1')});
uso_wait_for($a, q{SELECT count(*) >= 2 FROM uso_alert_outbox WHERE task_name = 'boom'},
	'boom fails and raises alerts');
my $bg = $a->background_psql('postgres');
$bg->query_until(qr/delivering/, "\\echo delivering\nCALL uso_deliver_alerts();\n");
uso_wait_for($a, q{SELECT count(*) > 0 FROM pg_stat_activity
	WHERE query LIKE 'CALL uso_deliver_alerts()%' AND state = 'active'},
	'a delivery hangs on the mail server');
my $ticks = q{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'tick' AND r.status = 'succeeded'};
my $booms = q{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'boom' AND r.status = 'failed'};
my $t0 = $a->safe_psql('postgres', $ticks);
my $b0 = $a->safe_psql('postgres', $booms);
ok(within($a, 30, "SELECT ($ticks) >= $t0 + 10"),
	'while delivery hangs, another task on 1 seconds still runs 10 times within 30 s');
ok(within($a, 30, "SELECT ($booms) >= $b0 + 5"), 'and the failing one keeps running and ending');
is($a->safe_psql('postgres', q{SELECT count(*) FROM pg_locks WHERE NOT granted}), '0',
	'nothing waits for a lock');
is($a->safe_psql('postgres', q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
	WHERE a.query LIKE 'CALL uso_deliver_alerts()%' AND l.locktype IN ('tuple', 'transactionid')
	  AND l.mode <> 'ExclusiveLock'}), '0', 'the hanging delivery holds no row lock');
$a->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE query LIKE 'CALL uso_deliver_alerts()%' AND pid <> pg_backend_pid()});
eval { $bg->quit; };
$a->stop('immediate');

# ------------------------------------------------ one node for the rest
my $smtp = UsoFixtures::start_smtp();
my $node = uso_node('hotpath',
	"uso_tasks.smtp_url = '$smtp->{url}'",
	"uso_tasks.alert_mail_to = 'ops\@example.org'");
sub query { return $node->safe_psql('postgres', $_[0]); }
sub deliver { return query('CALL uso_deliver_alerts()'); }
sub subjects
{
	my ($task) = @_;
	return map { $_->{headers}{subject} } grep { ($_->{headers}{subject} // '') =~ /\] \Q$task\E / }
		UsoFixtures::mails($smtp);
}

# --- a role's lock on its own task row stops no other role's alert
query(q{CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN});
$node->safe_psql('postgres', q{SET ROLE alice; SELECT uso_schedule('amiss', '@manual', 'SELECT no_such_function()')});
$node->safe_psql('postgres', q{SET ROLE bob; SELECT uso_schedule('bobfail', '@manual', 'SELECT 1/0')});
my $holder = $node->background_psql('postgres');
$holder->query_safe(q{SET ROLE alice; BEGIN; SELECT 1 FROM uso_task WHERE name = 'amiss' FOR UPDATE});
my $run = query(q{SELECT uso_run_now('bobfail')});
is(query("SELECT uso_wait($run)"), 'failed', "bob's task fails");
my ($ret) = $node->psql('postgres', q{SET statement_timeout = '30s'; CALL uso_deliver_alerts()});
is($ret, 0, "delivery does not wait for alice's row lock");
is(query("SELECT state FROM uso_alerts WHERE run_id = $run"), 'sent', "bob's alert is sent");
is(query(q{SELECT event FROM uso_alerts WHERE task = 'amiss'}), 'missing', "and alice's task is announced missing");
$holder->query_safe('ROLLBACK');
$holder->quit;

# --- the counters are exact, folded off the run's path
query(q{SELECT uso_schedule('counted', '@manual', 'SELECT pg_sleep(0.01)')});
for (1 .. 4)
{
	my $r = query(q{SELECT uso_run_now('counted')});
	query("SELECT uso_wait($r)");
}
uso_wait_for($node, q{SELECT runs_succeeded = 4 AND duration_count = 4 AND cardinality(recent_durations) = 4
	AND last_status = 'succeeded' FROM uso_task_stats WHERE task_id = (SELECT id FROM uso_task WHERE name = 'counted')},
	'four runs counted by the fold');
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_run_outcome r JOIN uso_task t ON t.id = r.task_id WHERE t.name = 'counted'},
	'and the queue holds none of them any more');

# --- alerts go out in the order of their events
query(q{CREATE TABLE flag (ok boolean); INSERT INTO flag VALUES (false)});
query(q{SELECT uso_schedule('flappy', '@manual', $$SELECT 1 / ok::int FROM flag$$)});
for (1 .. 3)
{
	my $r = query(q{SELECT uso_run_now('flappy')});
	is(query("SELECT uso_wait($r)"), 'failed', "flappy fails ($_)");
	deliver() if $_ == 1;
}
query(q{UPDATE flag SET ok = true});
my $ok = query(q{SELECT uso_run_now('flappy')});
is(query("SELECT uso_wait($ok)"), 'succeeded', 'flappy recovers');
deliver();
query(q{UPDATE uso_alert_outbox SET deliver_after = now() WHERE sent_at IS NULL AND task_name = 'flappy'});
deliver();
my @s = subjects('flappy');
like($s[0], qr/flappy failed$/, 'first the failure');
like($s[-1], qr/flappy recovered/, 'the last mail about it says recovered');
my ($first_rec) = grep { $s[$_] =~ /recovered/ } 0 .. $#s;
ok(!grep({ /failed/ } @s[$first_rec .. $#s]), 'no failure mail after the recovery mail');

# --- every kind is rate-limited: a task missing twice within the interval
query(q{SELECT uso_schedule('gone', '@manual', 'SELECT gone_fn()')});
deliver();
query(q{CREATE FUNCTION gone_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'});
deliver();
query(q{DROP FUNCTION gone_fn()});
deliver();
is(scalar(grep { /is missing/ } subjects('gone')), 1, 'missing twice in one interval: one mail');
is(query(q{SELECT string_agg(state, ',' ORDER BY id) FROM uso_alerts WHERE task = 'gone'}), 'sent,pending',
	'the second waits for the interval');

# --- recipients per task are capped
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT uso_schedule('many', '@manual', 'SELECT 1/0',
	alert_mail_to => (SELECT string_agg(format('a%s@example.org', i), ', ') FROM generate_series(1, 11) i))});
isnt($rc, 0, 'eleven addresses are refused');
like($err, qr/alert_mail_to names 11 addresses, more than the 10 allowed/, 'with a message that says why');
query(q{SELECT uso_schedule('many', '@manual', 'SELECT 1/0',
	alert_mail_to => (SELECT string_agg(format('a%s@example.org', i), ', ') FROM generate_series(1, 10) i))});
query(q{ALTER SYSTEM SET uso_tasks.alert_max_recipients = 3; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{SELECT current_setting('uso_tasks.alert_max_recipients') = '3'});
$run = query(q{SELECT uso_run_now('many')});
query("SELECT uso_wait($run)");
deliver();
is(query("SELECT recipient FROM uso_alerts WHERE run_id = $run"),
	'ops@example.org, a1@example.org, a2@example.org, a3@example.org',
	'a list written before a lower cap is cut to the cap');

# --- alerts per role are capped
query(q{ALTER SYSTEM SET uso_tasks.alert_max_per_role = 2; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{SELECT current_setting('uso_tasks.alert_max_per_role') = '2'});
query(q{CREATE ROLE carol LOGIN});
for my $i (1 .. 3)
{
	$node->safe_psql('postgres', qq{SET ROLE carol; SELECT uso_schedule('c$i', '\@manual', 'SELECT 1/0')});
	my $r = $node->safe_psql('postgres', qq{SET ROLE carol; SELECT uso_run_now('c$i')});
	query("SELECT uso_wait($r)");
}
deliver();
is(query(q{SELECT string_agg(state, ',' ORDER BY task) FROM uso_alerts WHERE task IN ('c1', 'c2', 'c3')}),
	'sent,sent,suppressed', 'the third alert of one role within the interval is suppressed');
like(query(q{SELECT last_error FROM uso_alerts WHERE task = 'c3'}), qr/uso_tasks\.alert_max_per_role/,
	'and says why');

# ------------------------------------------------ a reload never moves a task back
# Its owner's open transaction holds the row (FOR NO KEY UPDATE): runs are
# still queued (they only need a key-share lock), their next_run_at writes
# wait.  An edit of another task reloads every task; the row's next_run_at
# is behind, and must not bring back a slot that already ran, even once
# the rows that would have stopped it are gone.
query(q{SELECT uso_schedule('steady', '1 seconds', 'SELECT 1'); SELECT uso_schedule('other', '@manual', 'SELECT 1')});
my $steady = q{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id WHERE t.name = 'steady'};
uso_wait_for($node, "SELECT ($steady) >= 1", 'steady runs');
my $locker = $node->background_psql('postgres');
$locker->query_safe(q{BEGIN; SELECT 1 FROM uso_task WHERE name = 'steady' FOR NO KEY UPDATE});
my $n0 = query($steady);
uso_wait_for($node, "SELECT ($steady) >= $n0 + 3", 'it keeps running while its row is locked');
my $last_slot = query(q{SELECT max(scheduled_for) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'steady' AND r.finished_at IS NOT NULL});
query(q{DELETE FROM uso_task_run r USING uso_task t WHERE t.id = r.task_id AND t.name = 'steady' AND r.finished_at IS NOT NULL});
query(q{SELECT uso_alter_task('other', command => 'SELECT 2')});
uso_wait_for($node, qq{SELECT count(*) > 0 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'steady' AND r.scheduled_for > '$last_slot'}, 'steady goes on after the reload');
is(query(qq{SELECT count(*) FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'steady' AND r.scheduled_for <= '$last_slot'}), '0', 'no slot that already ran is run again');
$locker->query_safe('ROLLBACK');
$locker->quit;
uso_wait_for($node, qq{SELECT last_run_at > '$last_slot' FROM uso_task WHERE name = 'steady'},
	'its row catches up once the lock goes');
query(q{SELECT uso_alter_task('steady', enabled => false)});

# ------------------------------------------------ @reboot survives an ERROR in the first iteration
query(q{SELECT uso_schedule('boot', '@reboot', 'SELECT 1')});
query(q{CREATE SEQUENCE boot_once;
	CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF nextval('public.boot_once') = 1 THEN
			RAISE EXCEPTION 'the first @reboot insert fails';
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER fail_once BEFORE INSERT ON uso_task_run FOR EACH ROW
		WHEN (NEW.trigger = 'startup') EXECUTE FUNCTION fail_once()});
$node->restart;
uso_wait_for($node, q{SELECT count(*) = 1 FROM uso_task_run r JOIN uso_task t ON t.id = r.task_id
	WHERE t.name = 'boot' AND r.trigger = 'startup' AND r.status = 'succeeded'},
	'the @reboot run is queued again after the first iteration failed, and runs once');
ok(uso_poll_log($node, qr/the first \@reboot insert fails/), 'the failure was logged');

$node->stop;
done_testing();
