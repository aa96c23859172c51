# Review of issue 21's trust boundary (h7) -- NOT FIXED, left out of the test
# list (.pl.todo).  The webhook URL of uso_tasks.alert_webhook_url is the
# superuser's secret (SHOW is refused to other roles, the view uso_alerts
# shows it redacted), but uso_queue_alert copies it whole into
# uso_alert_outbox.recipient, and that table is GRANT SELECT TO PUBLIC with a
# policy that shows a role the alerts of its own tasks: any role whose task
# fails reads the URL with its token (SELECT recipient FROM uso_alert_outbox).
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('review_outbox_secret',
	"uso_tasks.alert_webhook_url = 'http://127.0.0.1:9/hook?token=SECRET123'");
$node->safe_psql('postgres', q{CREATE ROLE alice LOGIN});
my $alice = sub { $node->safe_psql('postgres', shift, extra_params => ['-U', 'alice']) };
my ($ret, $out, $err) = $node->psql('postgres', 'SHOW uso_tasks.alert_webhook_url', extra_params => ['-U', 'alice']);
like($err, qr/must be superuser/, 'alice may not SHOW the webhook URL');
$alice->(q{SELECT uso_schedule('a_fail', '@manual', 'SELECT 1/0')});
my $run = $alice->(q{SELECT uso_run_now('a_fail')});
is($alice->("SELECT uso_wait($run, '60 s')"), 'failed', 'her task fails');
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM uso_alert_outbox WHERE task_name = 'a_fail'}),
	'its webhook alert is queued');
unlike($alice->(q{SELECT string_agg(recipient, ' ') FROM uso_alerts}), qr/SECRET123/,
	'the view uso_alerts shows the URL redacted');
my ($r2, $o2, $e2) = $node->psql('postgres', q{SELECT string_agg(recipient, ' ') FROM uso_alert_outbox},
	extra_params => ['-U', 'alice']);
unlike($o2, qr/SECRET123/, 'nor can she read it in the table uso_alert_outbox');
$node->stop;
done_testing();
