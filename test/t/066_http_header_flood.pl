# HTTP response headers cannot hurt the task that reads them (issue 9,
# item 9): a response with tens of thousands of header lines, or one header
# repeated into a huge value, is refused with 54000 as it arrives instead of
# being parsed for seconds into gigabytes; headers that trickle in are
# stopped by statement_timeout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use lib 't/lib';
use UsoFixtures;

my $http = UsoFixtures::start_http();
my $base = $http->{url};

my $node = PostgreSQL::Test::Cluster->new('headers');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'uso_tasks'
uso_tasks.http_allowed_hosts = '127.0.0.1'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION uso_tasks');

sub query { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }

sub sql_error
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return $ret == 0 ? "no error (output: " . substr($out, 0, 200) . ")" : $err;
}

# --- ordinary headers, distinct and repeated, still come back
is(query(qq{SELECT (r).headers->>'x-flood-50' || ' ' || (SELECT count(*) FROM jsonb_object_keys((r).headers)
	WHERE jsonb_object_keys LIKE 'x-flood-%') FROM uso_http_get('$base/_headers/50') r}),
	'v 50', '50 distinct header lines are all returned');
is(query(qq{SELECT (r).headers->>'x-flood' FROM uso_http_get('$base/_headers/3?same=1&size=2') r}),
	'vv, vv, vv', 'a repeated header is joined with ", "');

# --- 35,000 header lines: refused as they arrive
my $t0 = time();
like(sql_error(qq{SELECT (uso_http_get('$base/_headers/35000')).status}),
	qr/ERROR:\s+54000: HTTP response from \Q$base\E\/_headers\/35000 has more than 1000 header lines/,
	'35,000 header lines are refused with 54000');
my $elapsed = time() - $t0;
cmp_ok($elapsed, '<', 30, sprintf('... without parsing them first (%.1f s)', $elapsed));

# --- 35,000 lines of one short header (a value joined 35,000 times)
$t0 = time();
like(sql_error(qq{SELECT (uso_http_get('$base/_headers/35000?same=1&name=a')).status}),
	qr/ERROR:\s+54000: HTTP response from .* has more than 1000 header lines/,
	'35,000 repeated header lines are refused with 54000');
$elapsed = time() - $t0;
cmp_ok($elapsed, '<', 30, sprintf('... without joining them first (%.1f s)', $elapsed));

# --- one header repeated into a value of 180 kB: refused by bytes
like(sql_error(qq{SELECT (uso_http_get('$base/_headers/900?same=1&size=200')).status}),
	# (messages show a URL's query as "?...": API keys travel there, issue 21)
	qr/ERROR:\s+54000: HTTP response headers from \Q$base\E\/_headers\/900\?\.\.\. exceed 131072 bytes/,
	'a header block over 128 kB is refused with 54000');

# --- headers that trickle in are stopped by statement_timeout
$t0 = time();
like(sql_error(qq{SET statement_timeout = '500ms';
	SELECT (uso_http_get('$base/_headers/900?delay=0.05', NULL, '60 s')).status}),
	qr/ERROR:\s+57014: canceling statement due to statement timeout/,
	'statement_timeout stops a response whose headers trickle in');
$elapsed = time() - $t0;
cmp_ok($elapsed, '<', 20, sprintf('... promptly (%.1f s)', $elapsed));

is(query('SELECT 1'), '1', 'the server is fine');
$node->stop;
done_testing();
