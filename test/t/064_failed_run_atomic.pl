# A failed run never keeps half of its work (issue 9, item 6): a command of
# several statements where one cannot run inside a transaction block (DROP
# DATABASE, CREATE DATABASE, VACUUM, ...) fails before running anything, even
# when the validation trigger did not see it (disabled here, as a superuser
# could, or a row restored from an old dump).
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('atomic');
my $q = sub { $node->safe_psql('postgres', shift) };

$q->(q{CREATE TABLE t (x int)});
$q->(q{CREATE DATABASE zdb});

# Write commands the trigger would refuse: with it disabled, only the
# runtime check stands between them and a half-done run.
$q->(q{ALTER TABLE uso_task DISABLE TRIGGER uso_task_validate});
for my $task (['drop_db', q{DROP DATABASE zdb; SELECT 1/0}],
	['create_db', q{CREATE DATABASE zdb2; SELECT 1/0}],
	['vacuum', q{INSERT INTO t VALUES (1); VACUUM t; SELECT 1/0}],
	['commit', q{INSERT INTO t VALUES (2); COMMIT; SELECT 1/0}])
{
	uso_task($node, name => $task->[0], schedule => '@manual', command => $task->[1]);
}
$q->(q{ALTER TABLE uso_task ENABLE TRIGGER uso_task_validate});

my $base = $node->data_dir . '/base';
opendir(my $dh, $base) or die "cannot read $base: $!";
my $dirs_before = join(',', sort grep { !/^\./ } readdir($dh));
closedir($dh);

sub run_task
{
	my ($name) = @_;
	my $run = $q->("SELECT uso_run_now('$name')");
	my $status = $q->("SELECT uso_wait($run, '60 seconds')");
	my ($sqlstate, $message) = split /\|/,
	  $q->("SELECT sqlstate || '|' || return_message FROM uso_task_run WHERE id = $run");
	return ($status, $sqlstate // '', $message // '');
}

my ($status, $sqlstate, $message) = run_task('drop_db');
is($status, 'failed', 'DROP DATABASE; SELECT 1/0: the run fails');
is($sqlstate, '22023', '... with 22023 (not the division by zero)');
like($message, qr/DROP DATABASE cannot run inside a multi-statement command/,
	'... and the message names the statement');
is($q->(q{SELECT count(*) FROM pg_database WHERE datname = 'zdb' AND datconnlimit <> -2}), '1',
	'... and zdb still exists, valid');
my ($rc) = $node->psql('zdb', 'SELECT 1');
is($rc, 0, '... and accepts connections');

($status, $sqlstate, $message) = run_task('create_db');
is($status . $sqlstate, 'failed22023', 'CREATE DATABASE; SELECT 1/0 fails with 22023');
like($message, qr/CREATE DATABASE cannot run inside a multi-statement command/, '... naming it');
is($q->(q{SELECT count(*) FROM pg_database WHERE datname = 'zdb2'}), '0', '... and creates no database');
opendir($dh, $base) or die "cannot read $base: $!";
my $dirs_after = join(',', sort grep { !/^\./ } readdir($dh));
closedir($dh);
is($dirs_after, $dirs_before, '... and leaves no directory behind');

($status, $sqlstate, $message) = run_task('vacuum');
is($status . $sqlstate, 'failed22023', 'INSERT; VACUUM; SELECT 1/0 fails with 22023');
like($message, qr/VACUUM cannot run inside a multi-statement command/, '... naming VACUUM');
is($q->(q{SELECT count(*) FROM t}), '0', '... and keeps no row');

($status, $sqlstate, $message) = run_task('commit');
is($status . $sqlstate, 'failed22023', 'INSERT; COMMIT; ... fails with 22023');
like($message, qr/task commands cannot use BEGIN, COMMIT or ROLLBACK/, '... as transaction control');
is($q->(q{SELECT count(*) FROM t}), '0', '... and keeps no row');

# As the whole command, such a statement runs, as in psql.
uso_task($node, name => 'vacuum_alone', schedule => '@manual', command => 'VACUUM t');
($status, $sqlstate, $message) = run_task('vacuum_alone');
is($status, 'succeeded', 'VACUUM as the whole command runs');
uso_task($node, name => 'create_alone', schedule => '@manual', command => 'CREATE DATABASE zdb3');
($status) = run_task('create_alone');
is($status, 'succeeded', 'CREATE DATABASE as the whole command runs');
is($q->(q{SELECT count(*) FROM pg_database WHERE datname = 'zdb3'}), '1', '... and creates it');

# A procedure that commits stays allowed, also among other statements.
$q->(q{CREATE PROCEDURE two_steps() LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO t VALUES (10); COMMIT; INSERT INTO t VALUES (11); END $$});
uso_task($node, name => 'proc', schedule => '@manual',
	command => 'INSERT INTO t VALUES (9); CALL two_steps()');
($status) = run_task('proc');
is($status, 'succeeded', 'CALL of a procedure that COMMITs still runs in a multi-statement command');
is($q->(q{SELECT string_agg(x::text, ',' ORDER BY x) FROM t}), '9,10,11', '... and does its work');

done_testing();
