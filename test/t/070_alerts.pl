# Operations, issue 12 parts 1, 2 and 5: a failing task's events go out as
# NOTIFY (LISTEN in a test session), as mail to the server-wide and the
# task's own addresses (SMTP sink) with a rate limit, and as a webhook (HTTP
# sink); a mail server that is down loses nothing (outbox, retried); the
# LOG lines of failed and finished runs; record_runs = 'failures'.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib 't/lib';
use UsoNode;
use UsoFixtures;

my $fixtures = $ENV{USO_FIXTURES} // 'fixtures';
my $smtp = UsoFixtures::start_smtp();
my $http = UsoFixtures::start_http(root => "$fixtures/http");

my $node = uso_node('alerts',
	"uso_tasks.smtp_url = '$smtp->{url}'",
	"uso_tasks.alert_mail_to = 'ops\@example.org'",
	"uso_tasks.admin_url = 'https://uso.example.org/admin/tasks/{task}'",
	"uso_tasks.http_allowed_hosts = '127.0.0.1'");
sub query { return $node->safe_psql('postgres', $_[0]); }

# The built-in deliverer runs every 10 s; the test calls it itself too.
# Alerts are decided by the fold of run ends (the scheduler's, within a
# moment of the run's end): the test waits for them.
sub alert_for
{
	my ($run) = @_;
	$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM uso_alerts WHERE run_id = $run");
}
is(query("SELECT record_runs FROM uso_task WHERE name = 'uso_deliver_alerts' AND builtin"), 'failures',
	'uso_deliver_alerts is a built-in task keeping only its failures');

# ---------------------------------------------------------------- NOTIFY
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN uso_task_events');

query("CREATE ROLE alice LOGIN; CREATE TABLE flag (ok boolean); INSERT INTO flag VALUES (false); GRANT SELECT ON flag TO alice");
query(q{SET ROLE alice; SELECT uso_schedule('flaky', '@manual',
    $$SELECT 1 / ok::int FROM flag$$,
    alert_mail_to => 'alice@example.org')});
my $run = query("SELECT uso_run_now('flaky')");
is(query("SELECT uso_wait($run)"), 'failed', 'the run fails');

my $out = '';
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
while (time < $deadline && $out !~ /Asynchronous notification/)
{
	$out .= $listener->query('SELECT 1');
}
like($out, qr/Asynchronous notification "uso_task_events" with payload "(.*)" received/, 'NOTIFY on uso_task_events');
my ($payload) = $out =~ /with payload "(.*)" received/;
# Only ids: every role may LISTEN (t/112_notify_payload.pl); the details
# are read through the views.
like($payload, qr/^\{"run_id": $run, "task_id": \d+\}$/, 'payload: run_id and task_id only');

# ---------------------------------------------------------------- LOG line
ok(uso_poll_log($node, qr/LOG:  uso_tasks: task "flaky" in database "postgres", run $run: failed, SQLSTATE 22012: division by zero/),
	'one LOG line for the failed run');

# ---------------------------------------------------------------- mail
alert_for($run);
is(query("SELECT event || ' ' || channel || ' ' || recipient || ' ' || state FROM uso_alerts WHERE run_id = $run"),
	'failed mail ops@example.org, alice@example.org pending', 'the outbox holds the alert');
is($node->safe_psql('postgres', "SET ROLE alice; SELECT count(*) FROM uso_alerts"), '1', 'alice sees her task\'s alert');
query("CREATE ROLE bob LOGIN");
is($node->safe_psql('postgres', "SET ROLE bob; SELECT count(*) FROM uso_alerts"), '0', 'bob sees none of it');

query("CALL uso_deliver_alerts()");
my @mails = UsoFixtures::wait_for_mails($smtp, 1);
is(scalar @mails, 1, 'one mail');
like($mails[0]{headers}{subject} // $mails[0]{subject} // '', qr/flaky failed/, 'subject names task and status');
my $body = $mails[0]{body};
like($body, qr/Run id: $run/, 'body: run id');
like($body, qr/Message: division by zero/, 'body: message');
like($body, qr/SQLSTATE: 22012/, 'body: SQLSTATE');
like($body, qr/Started: \d{4}-/, 'body: times');
like($body, qr{https://uso\.example\.org/admin/tasks/flaky}, 'body: admin link');
is(query("SELECT state FROM uso_alerts WHERE run_id = $run"), 'sent', 'marked sent');

# ---------------------------------------------------------------- rate limit
# Five more failures within the minute: gathered into one more alert, sent
# at the end of the interval (15 minutes; moved forward here).
my @runs;
for (1 .. 5)
{
	my $r = query("SELECT uso_run_now('flaky')");
	is(query("SELECT uso_wait($r)"), 'failed', "failure $_ more");
	push @runs, $r;
}
alert_for($runs[-1]);
is(query("SELECT count(*) FROM uso_alerts WHERE task = 'flaky' AND channel = 'mail'"), '2',
	'six failures: two alerts');
is(query("SELECT more_failures || ' ' || state || ' ' || (deliver_after > now() + interval '14 minutes') FROM uso_alerts WHERE task = 'flaky' AND state <> 'sent'"),
	'5 pending true', 'the second gathers five failures and waits for the interval');
is(query("CALL uso_deliver_alerts()"), '0', 'nothing due yet');
query("UPDATE uso_alert_outbox SET deliver_after = now() WHERE sent_at IS NULL");
is(query("CALL uso_deliver_alerts()"), '1', 'delivered at the end of the interval');
@mails = UsoFixtures::wait_for_mails($smtp, 2);
is(scalar @mails, 2, 'two mails for six failures');
like($mails[1]{body}, qr/5 more failures since /, 'the second says how many more');
like($mails[1]{body}, qr/Run id: $runs[-1]/, 'and shows the last');

# ---------------------------------------------------------------- recovery, mail server down
UsoFixtures::stop($smtp);
query("UPDATE flag SET ok = true");
my $ok = query("SELECT uso_run_now('flaky')");
is(query("SELECT uso_wait($ok)"), 'succeeded', 'the task recovers');
alert_for($ok);
is(query("SELECT event FROM uso_alerts WHERE run_id = $ok"), 'recovered', 'a recovered alert');
# It comes within the interval opened by the last failures' alert, so it is
# gathered and sent at the interval's end (moved forward here).
query("UPDATE uso_alert_outbox SET deliver_after = now() WHERE sent_at IS NULL");
query("CALL uso_deliver_alerts()");
is(query("SELECT state || ' ' || attempts || ' ' || (last_error IS NOT NULL) || ' ' || (deliver_after > now()) FROM uso_alerts WHERE run_id = $ok"),
	'failed 1 true true', 'mail server down: kept, error noted, retried later');
query("CALL uso_deliver_alerts()");
is(query("SELECT attempts FROM uso_alerts WHERE run_id = $ok"), '1', 'not retried before its backoff');
my $smtp2 = UsoFixtures::start_smtp();
query("ALTER SYSTEM SET uso_tasks.smtp_url = '$smtp2->{url}'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('uso_tasks.smtp_url') = '$smtp2->{url}'");
query("UPDATE uso_alert_outbox SET deliver_after = now() WHERE sent_at IS NULL");
is(query("CALL uso_deliver_alerts()"), '1', 'delivered once the mail server is back');
@mails = UsoFixtures::wait_for_mails($smtp2, 1);
like($mails[0]{body}, qr/Event: recovered/, 'the recovery mail');

# ---------------------------------------------------------------- webhook
query("ALTER SYSTEM SET uso_tasks.alert_webhook_url = '$http->{url}/_echo'; ALTER SYSTEM SET uso_tasks.alert_mail_to = ''; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('uso_tasks.alert_webhook_url') <> ''");
query(q{SELECT uso_schedule('broken', '@manual', 'SELECT 1/0')});
my $b = query("SELECT uso_run_now('broken')");
is(query("SELECT uso_wait($b)"), 'failed', 'another task fails');
alert_for($b);
# uso_alerts shows the webhook URL redacted (its path may hold a token: issue 21).
is(query("SELECT channel || ' ' || recipient FROM uso_alerts WHERE run_id = $b"), "webhook $http->{url}/...",
	'a webhook alert, and no mail without recipients');
# The outbox, which the task's owner may read, never holds the secret URL:
# delivery posts to the setting (issue 21).
is(query("SELECT recipient FROM uso_alert_outbox WHERE run_id = $b"), "$http->{url}/...",
	'the outbox keeps the webhook URL redacted too');
query("CALL uso_deliver_alerts()");
my @reqs = grep { ($_->{path} // '') =~ m{/_echo} } UsoFixtures::requests($http);
is(scalar @reqs, 1, 'the webhook was called once');
is($reqs[0]{method}, 'POST', 'with POST');
ok($reqs[0]{length} > 50, 'and a body');
is(query("SELECT state || ' ' || (payload->>'task') || ' ' || (payload->>'status') FROM uso_alerts WHERE run_id = $b"),
	'sent broken failed', 'webhook alert sent with the event JSON');

# ---------------------------------------------------------------- timed_out, cancelled
query(q{SELECT uso_schedule('sleepy', '@manual', 'SELECT pg_sleep(30)', timeout => '200ms')});
my $to = query("SELECT uso_run_now('sleepy')");
is(query("SELECT uso_wait($to)"), 'timed_out', 'a run times out');
alert_for($to);
is(query("SELECT event FROM uso_alerts WHERE run_id = $to"), 'timed_out', 'a timed_out alert');
ok(uso_poll_log($node, qr/LOG:  uso_tasks: task "sleepy" in database "postgres", run $to: timed_out, SQLSTATE 57014: run exceeded its timeout/),
	'its LOG line');
query(q{SELECT uso_alter_task('sleepy', timeout => '1min')});
my $cx = query("SELECT uso_run_now('sleepy')");
$node->poll_query_until('postgres', "SELECT status = 'running' FROM uso_task_run WHERE id = $cx");
query("SELECT uso_cancel($cx)");
is(query("SELECT uso_wait($cx)"), 'cancelled', 'a run is cancelled');
ok(uso_poll_log($node, qr/LOG:  uso_tasks: task "sleepy" in database "postgres", run $cx: cancelled, SQLSTATE 57014/),
	'a cancelled run has a LOG line too');
is(query("SELECT count(*) FROM uso_alerts WHERE run_id = $cx"), '0', 'but no alert');

# ---------------------------------------------------------------- missing
query(q{SELECT uso_schedule('gone', '@manual', 'SELECT no_such_function()')});
query("CALL uso_deliver_alerts()");
is(query("SELECT event FROM uso_alerts WHERE task = 'gone'"), 'missing', 'a task whose function is missing is announced');
query("CALL uso_deliver_alerts()");
is(query("SELECT count(*) FROM uso_alerts WHERE task = 'gone'"), '1', 'once');

# ---------------------------------------------------------------- log_runs = all, record_runs
query("ALTER SYSTEM SET uso_tasks.log_runs = 'all'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('uso_tasks.log_runs') = 'all'");
query(q{SELECT uso_schedule('hot', '@manual', 'SELECT pg_sleep(0.01)', record_runs => 'failures')});
my $last;
for (1 .. 5)
{
	$last = query("SELECT uso_run_now('hot')");
	is(query("SELECT uso_wait($last)"), 'succeeded', "hot run $_");
}
ok(uso_poll_log($node, qr/LOG:  uso_tasks: task "hot" in database "postgres", run $last: succeeded in \d+\.\d{3} s/),
	'log_runs = all: a line per finished run with its duration');
is(query("SELECT string_agg(id::text, ',') FROM uso_task_run WHERE task_id = (SELECT id FROM uso_task WHERE name = 'hot')"),
	$last, 'record_runs = failures: only the last success is kept');
$node->poll_query_until('postgres', "SELECT runs_succeeded = 5 FROM uso_task_stats WHERE task_id = (SELECT id FROM uso_task WHERE name = 'hot')");
is(query("SELECT runs_succeeded || ' ' || duration_count || ' ' || (duration_sum >= 0.05) || ' ' || cardinality(recent_durations) || ' ' || (last_success_at IS NOT NULL) FROM uso_task_stats WHERE task_id = (SELECT id FROM uso_task WHERE name = 'hot')"),
	'5 5 true 5 true', 'counts, durations and last success stay right');
is(query("SELECT runs_succeeded || ' ' || runs_failed || ' ' || failing FROM uso_metrics_tasks WHERE task = 'flaky'"),
	'1 6 false', 'flaky: 1 success, 6 failures, not failing now');

# notify_events = 'all': every finished run is announced, a success too.
query("ALTER SYSTEM SET uso_tasks.notify_events = 'all'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('uso_tasks.notify_events') = 'all'");
$listener->query('SELECT 1');	# drain what came meanwhile
my $ok2 = query("SELECT uso_run_now('hot')");
is(query("SELECT uso_wait($ok2)"), 'succeeded', 'one more success');
$out = '';
$deadline = time + $PostgreSQL::Test::Utils::timeout_default;
while (time < $deadline && $out !~ /"run_id": $ok2\b/)
{
	$out .= $listener->query('SELECT 1');
}
like($out, qr/payload "\{"run_id": $ok2, "task_id": \d+\}"/,
	'notify_events = all: the success is announced, from the run\'s own transaction');

$listener->quit;
done_testing();
