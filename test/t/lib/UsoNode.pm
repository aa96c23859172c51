# Helpers for uso_tasks TAP tests: a node with the library preloaded and the
# extension created, and waiting on runs without fixed sleeps.
package UsoNode;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Exporter 'import';

our @EXPORT = qw(uso_node uso_office_node uso_wait_for uso_task uso_poll_log uso_log_after);

# A started node with shared_preload_libraries = 'uso_tasks' and the
# engine (extension uso_tasks, no USO pack) in database postgres.  Extra postgresql.conf lines in @conf.
sub uso_node
{
	my ($name, @conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', join("\n",
		"shared_preload_libraries = 'uso_tasks'",
		"max_worker_processes = 32",
		# wal_level = minimal (the test default) skips WAL for sequences used
		# in the transaction that created them, and the task id sequence can
		# then go back after a crash (a PostgreSQL behaviour, not ours).
		"wal_level = replica",
		"uso_tasks.worker_idle_timeout = '10min'",
		@conf));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION uso_tasks');
	return $node;
}

# As uso_node, with the USO task pack (extension uso_office) created too.
sub uso_office_node
{
	my $node = uso_node(@_);
	$node->safe_psql('postgres', 'CREATE EXTENSION uso_office');
	return $node;
}

# Poll until $query returns 't' (deadline: the PostgreSQL test timeout).
sub uso_wait_for
{
	my ($node, $query, $what, $db) = @_;
	my $ok = $node->poll_query_until($db // 'postgres', $query);
	ok($ok, $what);
	return $ok;
}

# Insert a task directly (as superuser) and return its id.  Values are
# dollar-quoted text literals; _db names the database (default postgres).
sub uso_task
{
	my ($node, %t) = @_;
	my $db = delete $t{_db} // 'postgres';
	my @cols = sort keys %t;
	my $vals = join(', ', map { "\$q\$$t{$_}\$q\$" } @cols);
	return $node->safe_psql($db,
		"INSERT INTO uso_task (" . join(', ', @cols) . ") SELECT $vals RETURNING id");
}

# Poll the node's server log until it matches $re (deadline: the test timeout).
sub uso_poll_log
{
	my ($node, $re) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		return 1 if slurp_file($node->logfile) =~ $re;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# Wait until the server log after byte $offset matches $re and return the
# offset just past the match, so that the next wait looks only at what came
# later (wait_for_log returns the log's whole length, which can already hold
# the next line waited for).  Dies at the deadline (the test timeout).
sub uso_log_after
{
	my ($node, $re, $offset) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		my $log = slurp_file($node->logfile, $offset);
		return $offset + $+[0] if $log =~ $re;
		select(undef, undef, undef, 0.1);
	}
	die "timed out waiting for $re in the server log";
}

1;
