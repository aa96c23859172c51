# CREATE EXTENSION refuses politely without shared_preload_libraries, and
# works with it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;
my ($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION uso_tasks');
isnt($ret, 0, 'CREATE EXTENSION fails without preloading');
like($err, qr/must be loaded via shared_preload_libraries/, 'error says why');
like($err, qr/HINT:.*shared_preload_libraries = 'uso_tasks'/, 'hint says what to add');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_extension WHERE extname = 'uso_tasks'"), '0',
	'nothing was created');

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'uso_tasks'\nuso_tasks.max_workers = 3");
$node->restart;
is($node->safe_psql('postgres', 'SHOW uso_tasks.max_workers'), '3',
	'uso_tasks.max_workers is read from postgresql.conf');
$node->safe_psql('postgres', 'CREATE EXTENSION uso_tasks');
is($node->safe_psql('postgres',
	"SELECT extversion FROM pg_extension WHERE extname = 'uso_tasks'"), '0.2',
	'CREATE EXTENSION works when preloaded');
$node->stop;
done_testing();
