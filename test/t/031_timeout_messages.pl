# A run's timeout is recognised whatever language the server's messages are
# in: the executor knows its own timer fired (issue 23 item 9), it does not
# look for "statement timeout" in the error's text.
#
# The server runs with lc_messages = 'C.UTF-8' and LANGUAGE=de in its
# environment: glibc's gettext ignores LANGUAGE only under the locale "C"
# itself, so messages come out in German where PostgreSQL's German catalog
# is installed (no locale has to be generated for it).  Without that
# catalog the messages stay English and the test says so and skips.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

local $ENV{LANGUAGE} = 'de';
my $node = uso_node('timeout_messages', "lc_messages = 'C.UTF-8'");
my $q = sub { $node->safe_psql('postgres', shift) };
$q->(q{UPDATE uso_task SET enabled = false WHERE category IS NOT NULL});

# What a failing run's message looks like here: German or not.
uso_task($node, name => 'divide', schedule => '@manual', command => 'SELECT 1/0');
my $run = $q->(q{SELECT uso_run_now('divide')});
is($q->("SELECT uso_wait($run)"), 'failed', 'a failing run fails');
my $message = $q->("SELECT return_message FROM uso_task_run WHERE id = $run");

SKIP:
{
	skip "no German message catalog for PostgreSQL: messages are '$message'", 3
	  if $message =~ /division by zero/;
	like($message, qr/Division durch Null/, "the executor's messages are in German");

	uso_task($node, name => 'slow', schedule => '@manual', command => 'SELECT pg_sleep(60)',
		timeout => '300 milliseconds');
	$run = $q->(q{SELECT uso_run_now('slow')});
	is($q->("SELECT uso_wait($run, '2 minutes')"), 'timed_out', 'a run over its timeout ends timed_out');
	is($q->("SELECT sqlstate || ' ' || return_message FROM uso_task_run WHERE id = $run"),
		'57014 run exceeded its timeout of 300 ms', 'its message names the timeout');
}

is($q->(q{SELECT count(*) FROM uso_task_run WHERE finished_at IS NULL}), '0', 'no run left open');
$node->stop;
done_testing();
