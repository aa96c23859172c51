# Output that cannot hurt others (issue 9, item 9): what a run stores is
# capped (log bytes per run and per line, the return message, the error
# fields), the views stay small and readable by every role, an idle worker
# keeps nothing of a huge result, and a procedure that made its session
# read-only gets its real error recorded without killing the worker.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('caps');
my $q = sub { $node->safe_psql('postgres', shift) };

sub run_task
{
	my ($name) = @_;
	my $run = $q->("SELECT uso_run_now('$name')");
	return ($run, $q->("SELECT uso_wait($run, '2 minutes')"));
}

# The private (non-shared) memory a backend holds, in kB.
sub rss_anon_kb
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return -1;
	while (<$fh>)
	{
		return $1 if /^RssAnon:\s+(\d+)\s+kB/;
	}
	return -1;
}

# --- four 20 MB NOTICEs and 2,000 small lines: the log keeps 64 kB
uso_task($node, name => 'loud', schedule => '@manual', command => q{DO $$
	BEGIN
		FOR i IN 1..4 LOOP RAISE NOTICE '%', repeat('n', 20000000); END LOOP;
		FOR i IN 1..2000 LOOP RAISE NOTICE 'line % %', i, repeat('s', 100); END LOOP;
	END $$});
my ($run, $status) = run_task('loud');
is($status, 'succeeded', 'a run with huge NOTICEs succeeds');
my ($nlines, $nbytes, $longest) = split /\|/, $q->(
	"SELECT count(*), sum(octet_length(message)), max(octet_length(message))
	 FROM uso_task_log WHERE run_id = $run");
cmp_ok($nbytes, '<=', 64 * 1024 + 1024, "the stored log is capped at about 64 kB ($nbytes bytes)");
cmp_ok($longest, '<=', 8192, "each line is cut at 8 kB ($longest bytes)");
like($q->("SELECT message FROM uso_task_log WHERE run_id = $run ORDER BY seq DESC LIMIT 1"),
	qr/^\d+ more line\(s\) were not stored and \d+ byte\(s\) of log were left out \(.*uso_tasks.max_log_bytes = 65536/,
	'a final line says how much was left out');
like($q->("SELECT message FROM uso_task_log WHERE run_id = $run ORDER BY seq LIMIT 1"),
	qr/^n{100}.*\.\.\.$/, 'a cut line ends with an ellipsis');

# --- a single value of 200 MB is cut when converted
uso_task($node, name => 'huge_value', schedule => '@manual',
	command => q{SELECT repeat('v', 200000000)});
($run, $status) = run_task('huge_value');
is($status, 'succeeded', 'a run returning 200 MB succeeds');
my $msg_len = $q->("SELECT octet_length(return_message) FROM uso_task_run WHERE id = $run");
cmp_ok($msg_len, '<=', 8192, "its return_message is capped ($msg_len bytes)");
like($q->("SELECT right(return_message, 5) FROM uso_task_run WHERE id = $run"), qr/v\.\.\.$/,
	'... and ends with an ellipsis');
my $pid = $q->("SELECT pid FROM uso_task_run WHERE id = $run");
my $rss = rss_anon_kb($pid);
cmp_ok($rss, '>', 0, "the worker (pid $pid) is still there");
cmp_ok($rss, '<', 100 * 1024, "the idle worker keeps no copy of the value (RssAnon $rss kB)");

# A jsonb too large to convert is described instead of being built as text.
uso_task($node, name => 'huge_jsonb', schedule => '@manual',
	command => q{SELECT jsonb_build_object('k', repeat('j', 5000000))});
($run, $status) = run_task('huge_jsonb');
like($q->("SELECT left(return_message, 200) FROM uso_task_run WHERE id = $run"),
	qr/^\(a value of type jsonb, 50000\d\d bytes, too large to store as the run's message\)$/,
	'a huge non-text value is described');

# --- a huge error: message, detail, hint and context are capped
uso_task($node, name => 'huge_error', schedule => '@manual', command => q{DO $$
	BEGIN RAISE EXCEPTION '%', repeat('e', 30000000)
		USING DETAIL = repeat('d', 30000000), HINT = repeat('h', 30000000); END $$});
($run, $status) = run_task('huge_error');
is($status, 'failed', 'a run with a 30 MB error fails');
is($q->("SELECT octet_length(return_message) <= 8192 AND octet_length(error_detail) <= 8192
	AND octet_length(error_hint) <= 8192 AND sqlstate = 'P0001' FROM uso_task_run WHERE id = $run"),
	't', 'its message, detail and hint are capped at 8 kB');
cmp_ok($q->("SELECT max(octet_length(message)) FROM uso_task_log WHERE run_id = $run"), '<=', 8192,
	'... and so is the ERROR line of its log');

# --- the views stay small and work for another role
$q->(q{CREATE ROLE watcher LOGIN; GRANT uso_admin TO watcher});
my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT max(octet_length(last_log)) FROM uso_background_tasks}, extra_params => ['-U', 'watcher']);
is($rc, 0, 'uso_background_tasks works for another role') or diag($err);
cmp_ok($out, '<', 100 * 1024, "and its largest last_log is small ($out bytes)");
($rc, $out, $err) = $node->psql('postgres',
	q{SELECT sum(octet_length(return_message) + coalesce(octet_length(error_detail), 0))
	  FROM uso_task_runs}, extra_params => ['-U', 'watcher']);
is($rc, 0, 'uso_task_runs works for another role') or diag($err);
cmp_ok($out, '<', 100 * 1024, "and its messages are small ($out bytes)");

# --- a procedure that makes its session read-only and commits
$q->(q{CREATE TABLE ro_t (x int)});
$q->(q{CREATE PROCEDURE go_read_only() LANGUAGE plpgsql AS $$
	BEGIN SET default_transaction_read_only = on; COMMIT; INSERT INTO ro_t VALUES (1); END $$});
$q->(q{CREATE PROCEDURE stay_read_only() LANGUAGE plpgsql AS $$
	BEGIN SET default_transaction_read_only = on; COMMIT; PERFORM 1; END $$});
uso_task($node, name => 'read_only_fails', schedule => '@manual', command => 'CALL go_read_only()');
uso_task($node, name => 'read_only_ok', schedule => '@manual', command => 'CALL stay_read_only()');
($run, $status) = run_task('read_only_fails');
is($status, 'failed', 'a procedure that went read-only and then wrote: failed');
is($q->("SELECT sqlstate || ' ' || return_message FROM uso_task_run WHERE id = $run"),
	'25006 cannot execute INSERT in a read-only transaction', '... with its real error');
my $ro_pid = $q->("SELECT pid FROM uso_task_run WHERE id = $run");
($run, $status) = run_task('read_only_ok');
is($status, 'succeeded', 'a procedure that went read-only and only read: succeeded');
is($q->("SELECT count(*) FROM pg_stat_activity WHERE pid = $ro_pid AND backend_type = 'uso_tasks worker'"),
	'1', 'the worker that ran the failed one survived');
uso_task($node, name => 'writes', schedule => '@manual', command => 'INSERT INTO ro_t VALUES (2)');
($run, $status) = run_task('writes');
is($status, 'succeeded', 'the next task on that worker is not read-only');
is($q->("SELECT count(*) FROM uso_task_run WHERE status IN ('queued', 'running')"), '0',
	'no run left open');

done_testing();
