# Primary and streaming standby: tasks run on the primary only; after
# promotion they run on the new primary with the history continuing.  A run
# in flight at failover is closed as failed on the new primary.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'uso_tasks'\nmax_worker_processes = 32");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION uso_tasks');
$primary->safe_psql('postgres', q{UPDATE uso_task SET enabled = false WHERE builtin;
	CREATE TABLE beats (at timestamptz DEFAULT clock_timestamp());
	INSERT INTO uso_task (name, schedule, command) VALUES ('beat', '1 seconds', 'INSERT INTO beats DEFAULT VALUES'),
		('long', '@manual', 'SELECT pg_sleep(300)')});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

uso_wait_for($primary, q{SELECT count(*) >= 3 FROM uso_task_runs WHERE task = 'beat' AND status = 'succeeded'},
	'tasks run on the primary');
my $run = $primary->safe_psql('postgres', q{SELECT uso_run_now('long')});
uso_wait_for($primary, "SELECT status = 'running' FROM uso_task_run WHERE id = $run", 'a long run is in flight');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'uso_tasks%'}),
	'0', 'no uso_tasks process on the standby');
my $last = $primary->safe_psql('postgres', q{SELECT max(id) FROM uso_task_run});

$primary->stop('immediate');
$standby->promote;
uso_wait_for($standby, qq{SELECT count(*) >= 3 FROM uso_task_runs WHERE task = 'beat' AND status = 'succeeded'
	AND id > $last}, 'after promotion tasks run on the new primary');
ok($standby->safe_psql('postgres', qq{SELECT min(id) > $last FROM uso_task_run WHERE id > $last}) eq 't',
	'history continues with new run ids');
is($standby->safe_psql('postgres', "SELECT status FROM uso_task_run WHERE id = $run"), 'failed',
	'the run in flight at failover is closed as failed');
like($standby->safe_psql('postgres', "SELECT return_message FROM uso_task_run WHERE id = $run"),
	qr/failover/, 'its message mentions failover');
$standby->stop;
done_testing();
