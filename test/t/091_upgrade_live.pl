# Upgrading a running 0.1 server, as a DBA would: the released 0.1 library
# (commit f5434e7, built by test/run into $USO_INSTALL01) runs tasks and
# records runs, with a run in flight the 0.2 files are installed over it (a
# package upgrade), ALTER EXTENSION before the restart is refused and changes
# nothing while the run in flight finishes and is recorded; after the restart
# the scheduler waits for the catalog, ALTER EXTENSION uso_tasks UPDATE keeps
# every row, makes the pack uso_office, scheduling resumes, and the catalog
# equals a fresh install.
use strict;
use warnings;
use lib 't/lib';
use File::Copy qw(copy move);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;
use UsoCatalog;

plan skip_all => 'the 0.1 library was not built (test/run builds it from git commit f5434e7)'
  unless $ENV{USO_INSTALL01} && -d $ENV{USO_INSTALL01};
my $fixtures = $ENV{USO_FIXTURES} // 'fixtures';
my $tree01 = $ENV{USO_INSTALL01};
my ($lib02, $share02) = map { my $d = `pg_config --$_`; chomp $d; $d } qw(pkglibdir sharedir);

my $node = PostgreSQL::Test::Cluster->new('live', install_path => $tree01);
$node->init;
$node->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'uso_tasks'",
	"max_worker_processes = 32",
	"wal_level = replica"));
$node->start;
my $q = sub { $node->safe_psql('postgres', shift) };
$q->('CREATE EXTENSION uso_tasks');
is($q->(q{SELECT extversion FROM pg_extension WHERE extname = 'uso_tasks'}), '0.1', 'the server runs 0.1');

# Real history from the 0.1 library: runs, log lines, the pack's tasks on the sample facility.
$q->(q{CREATE TABLE ticks (at timestamptz DEFAULT now()); CREATE TABLE release (x int)});
$q->(q{SELECT uso_schedule('tick', '1 seconds', 'INSERT INTO ticks DEFAULT VALUES')});
$q->(q{SELECT uso_schedule('noisy', '@manual', $c$DO $b$ BEGIN RAISE NOTICE 'hello from 0.1'; END $b$$c$)});
$node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	'-f', "$fixtures/uso_sample.sql"], 'the sample facility loads');
for my $t (qw(noisy CreateCycles CleanRegistrations NotifyNewInstitutions))
{
	my $r = $q->("SELECT uso_run_now('$t')");
	is($q->("SELECT uso_wait($r, '60 s')"), 'succeeded', "0.1 runs $t");
}
uso_wait_for($node, q{SELECT count(*) >= 2 FROM ticks}, '0.1 schedules');
$q->(q{SELECT uso_schedule('slow', '@manual',
	$c$DO $b$ BEGIN WHILE NOT EXISTS (SELECT FROM release) LOOP PERFORM pg_sleep(0.02); END LOOP; END $b$$c$)});
my $slow = $q->(q{SELECT uso_run_now('slow')});
uso_wait_for($node, "SELECT status = 'running' FROM uso_task_run WHERE id = $slow", 'a run is in flight');

# -- the 0.2 package is installed over the running server (new files, new inodes)
for my $f ('uso_tasks.so')
{
	copy("$lib02/$f", "$tree01/lib/$f.new") or die "copy $f: $!";
	move("$tree01/lib/$f.new", "$tree01/lib/$f") or die "move $f: $!";
}
my $ext01 = "$tree01/../../../share/postgresql/15/extension";
for my $f (glob("$share02/extension/uso_*"))
{
	my ($base) = $f =~ m{([^/]+)$};
	copy($f, "$ext01/$base") or die "copy $base: $!";
}
my ($ret, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION uso_tasks UPDATE');
like($err, qr/ERROR:  the server runs an older uso_tasks library than this update needs/,
	'ALTER EXTENSION before the restart is refused');
like($err, qr/HINT:  Restart PostgreSQL after installing uso_tasks 0\.2/, 'saying to restart first');
is($q->(q{SELECT extversion FROM pg_extension WHERE extname = 'uso_tasks'}), '0.1', 'and changes nothing');
$q->(q{INSERT INTO release VALUES (1)});
uso_wait_for($node, "SELECT status = 'succeeded' AND finished_at IS NOT NULL FROM uso_task_run WHERE id = $slow",
	'the run in flight finishes and is recorded');
# Nothing else changes the rows until they are compared.
$q->(q{UPDATE uso_task SET enabled = false WHERE builtin OR name = 'tick'});
uso_wait_for($node, q{SELECT count(*) = 0 FROM uso_task_run WHERE status = 'running' OR (status = 'queued' AND trigger <> 'once')},
	'no run is left open (but the one-off runs the cycles queued for their dates)');
my $maxrun = $q->(q{SELECT max(id) FROM uso_task_run});
my $before = uso_kept_rows($node, 'postgres', $maxrun);

# -- restart: the 0.2 library waits for the catalog
$node->restart;
ok(uso_poll_log($node, qr/uso_tasks scheduler of database "postgres" waits: its catalog is version 0\.1, the library speaks 0\.2/),
	'after the restart the scheduler waits for ALTER EXTENSION');
($ret, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION uso_tasks UPDATE');
is($ret, 0, 'ALTER EXTENSION uso_tasks UPDATE works');
is($q->(q{SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension
	WHERE extname LIKE 'uso%'}), 'uso_office 0.2, uso_tasks 0.2', 'both extensions are at 0.2');
is_deeply(uso_kept_rows($node, 'postgres', $maxrun, $before), $before,
	'every task, run, log line (0.1\'s own) and row of schema uso is kept');
is($q->(q{SELECT string_agg(l.message, ',') FROM uso_task_log l JOIN uso_task_run r ON r.id = l.run_id
	JOIN uso_task t ON t.id = r.task_id WHERE t.name = 'noisy'}), 'hello from 0.1', 'a 0.1 run\'s log line is there');
ok(uso_poll_log($node, qr/uso_tasks catalog of database "postgres" is now version 0\.2: scheduling resumes/),
	'the scheduler resumes');
my $ticks = $q->(q{SELECT count(*) FROM ticks});
$q->(q{SELECT uso_enable('tick')});
uso_wait_for($node, "SELECT count(*) >= $ticks + 2 FROM ticks", 'scheduled runs continue');
$q->(q{UPDATE uso_task SET enabled = true WHERE builtin});
my $r = $q->(q{SELECT uso_run_now('CreateCycles')});
is($q->("SELECT uso_wait($r, '60 s')"), 'succeeded', 'a pack task runs under uso_office');

# -- the catalog equals a fresh install of both
$q->(q{CREATE DATABASE fresh});
$node->safe_psql('fresh', 'CREATE EXTENSION uso_office CASCADE');
my @diff = uso_catalog_diff(uso_catalog_snapshot($node, 'postgres'), uso_catalog_snapshot($node, 'fresh'),
	'upgraded', 'fresh');
is(scalar(@diff), 0, 'the live-upgraded catalog equals a fresh install')
  or diag(join("\n", 'The update scripts miss:', @diff));
unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal/, 'nothing crashed');
$node->stop;
done_testing();
