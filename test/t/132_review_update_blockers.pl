# Review of issue 21's trust boundary (h7): ALTER EXTENSION uso_tasks UPDATE
# from 0.1 drops the old code and creates it again (sql/updates/drop_code.sql),
# keeping the functions that a constraint, a default or an index uses -- those
# of the extension's own tables.  It kept them for anyone's table: a role who
# gave a column of her own table a DEFAULT calling one of our 0.1 functions
# made the update keep that function, and the update then stopped on the 0.2
# code's CREATE FUNCTION: 'function "uso_schedule_next" already exists with
# same argument types', which says nothing of her table.  Another role's
# table is now one more dependent object: the update stops with the list of
# them, as it does for her views, before anything is dropped.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('review_update_blockers');
$node->safe_psql('postgres', q{CREATE ROLE dbowner LOGIN});
$node->safe_psql('postgres', q{CREATE DATABASE up01 OWNER dbowner});
$node->safe_psql('up01', q{CREATE EXTENSION uso_tasks VERSION '0.1'});
$node->safe_psql('up01', q{CREATE TABLE public.mine (s text,
	n timestamptz DEFAULT public.uso_schedule_next('every 1 hour', now(), NULL, NULL))},
	extra_params => ['-U', 'dbowner']);

my ($ret, $out, $err) = $node->psql('up01', 'ALTER EXTENSION uso_tasks UPDATE');
isnt($ret, 0, 'the update stops');
like($err, qr/depend on them: default value for column n of table public.mine/, 'naming her table') or diag($err);
is($node->safe_psql('up01', q{SELECT extversion FROM pg_extension WHERE extname = 'uso_tasks'}), '0.1',
	'and changes nothing');

$node->safe_psql('up01', q{ALTER TABLE public.mine ALTER COLUMN n DROP DEFAULT}, extra_params => ['-U', 'dbowner']);
($ret, $out, $err) = $node->psql('up01', 'ALTER EXTENSION uso_tasks UPDATE');
is($ret, 0, 'once the default is gone the update runs') or diag($err);
is($node->safe_psql('up01', q{SELECT extversion FROM pg_extension WHERE extname = 'uso_tasks'}), '0.2',
	'to 0.2');
$node->stop;
done_testing();
