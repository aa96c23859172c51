# The HTTP and mail functions against the local fixture servers: replies,
# errors, caps, the allow list (also through redirects), cancellation,
# privileges, and mail as it arrives at an SMTP sink.
use strict;
use warnings;
use Encode qw(decode encode);
use MIME::QuotedPrint qw(decode_qp);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use UsoFixtures;

my $http = UsoFixtures::start_http();
my $smtp = UsoFixtures::start_smtp();
my $base = $http->{url};
my $port = $http->{port};

UsoFixtures::write_file($http, 'data/items.json', '{"items": [{"id": 1, "name": "MX"}, {"id": 2}]}');
UsoFixtures::write_file($http, 'data/metrics.csv', "journal,impact\nNature,49.9\n");
UsoFixtures::write_file($http, 'data/hello.txt', "hello\n");

my $node = PostgreSQL::Test::Cluster->new('http');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'uso_tasks'
uso_tasks.http_allowed_hosts = '127.0.0.1'
uso_tasks.smtp_url = '$smtp->{url}'
uso_tasks.smtp_from = 'USO Office <office\@uso.example.org>'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION uso_tasks');

# Runs SQL expected to fail; returns stderr with the SQLSTATE shown.
sub sql_error
{
	my ($sql, %opt) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql", %opt);
	return $ret == 0 ? "no error (output: $out)" : $err;
}

sub query { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }

# Percent-encodes a URL for a query string parameter.
sub uri_escape
{
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord($1))/ge;
	return $s;
}

sub requested
{
	my ($pattern) = @_;
	return scalar grep { $_->{path} =~ $pattern } UsoFixtures::requests($http);
}

# --- GET ------------------------------------------------------------------
is(query(qq{SELECT (r).status, (r).headers->>'content-type', (r).body
	FROM (SELECT uso_http_get('$base/data/items.json') r) s}),
	qq{200|application/json|{"items": [{"id": 1, "name": "MX"}, {"id": 2}]}},
	'GET returns status, headers and body');
is(query(qq{SELECT (uso_http_get('$base/data/metrics.csv?version=2')).headers->>'content-type'}),
	'text/csv', 'query string ignored by the fixture, CSV content type');
is(query(qq{SELECT (uso_http_get('$base/data/items.json')).headers->>'content-length'}),
	length('{"items": [{"id": 1, "name": "MX"}, {"id": 2}]}'), 'header names are lower case');
is(query(qq{SELECT (uso_http_get('$base/_echo', '{"X-Token": "abc", "Accept": "text/csv"}')).body::jsonb
	#>> '{headers,X-Token}'}), 'abc', 'request headers are sent');
like(query(qq{SELECT (uso_http_get('$base/_echo')).body::jsonb #>> '{headers,User-Agent}'}),
	qr{^uso_tasks/}, 'default User-Agent');

# --- status codes are results, not errors ---------------------------------
is(query(qq{SELECT (r).status || ' ' || (r).body FROM (SELECT uso_http_get('$base/nothing/here') r) s}),
	"404 not found\n", '404 is returned as a status');
is(query(qq{SELECT (uso_http_get('$base/_status/500')).status}), '500', '500 is returned as a status');

# --- POST -----------------------------------------------------------------
my $echo = query(qq{SELECT (uso_http_post('$base/_echo', '{"cycle": "2025-1"}')).body});
like($echo, qr/"method": "POST"/, 'POST reaches the server');
like($echo, qr/"body": "\{\\"cycle\\": \\"2025-1\\"\}"/, 'POST body sent as given');
like($echo, qr/"Content-Type": "application\/json"/, 'default content type application/json');
like(query(qq{SELECT (uso_http_post('$base/_echo', 'a,b', 'text/csv')).body}),
	qr/"Content-Type": "text\/csv"/, 'content_type argument');
like(query(qq{SELECT (uso_http_post('$base/_echo', 'x', 'text/plain', '{"Content-Type": "text/x-custom"}')).body}),
	qr/"Content-Type": "text\/x-custom"/, 'a Content-Type header wins over content_type');
unlike(query(qq{SELECT (uso_http_post('$base/_echo', NULL, NULL)).body}),
	qr/Content-Type/, 'NULL content_type sends no Content-Type');

# --- uso_http_get_json ----------------------------------------------------
is(query(qq{SELECT uso_http_get_json('$base/data/items.json') #>> '{items,0,name}'}), 'MX',
	'get_json parses the body');
is(query(qq{SELECT uso_http_get_json('$base/_status/204') IS NULL}), 't', 'get_json: 204 gives NULL');
my $err = sql_error(qq{SELECT uso_http_get_json('$base/_status/500')});
like($err, qr/ERROR:\s+38000: HTTP GET \Q$base\E\/_status\/500 returned status 500/,
	'get_json: 500 is an error naming URL and status');
like($err, qr/DETAIL:\s+status 500/, 'get_json: the error shows the start of the body');
like(sql_error(qq{SELECT uso_http_get_json('$base/nothing')}), qr/38000: .* returned status 404/,
	'get_json: 404 is an error');
$err = sql_error(qq{SELECT uso_http_get_json('$base/_malformed')});
like($err, qr/ERROR:\s+22P02: HTTP GET \Q$base\E\/_malformed returned malformed JSON/,
	'get_json: malformed JSON is an error naming the URL');
like(sql_error(qq{SELECT uso_http_get_json('$base/data/hello.txt')}), qr/22P02: .*malformed JSON/,
	'get_json: a text body is malformed JSON');

# --- time cap -------------------------------------------------------------
# The replies take 25 s: an error well before that (a bound a loaded machine
# keeps) is the cap at work, not the reply's end.
my $t0 = time();
$err = sql_error(qq{SELECT uso_http_get('$base/_sleep/25', NULL, '300 ms')});
my $elapsed = time() - $t0;
like($err, qr/ERROR:\s+38000: HTTP GET \Q$base\E\/_sleep\/25 timed out after 300 ms/,
	'timeout argument caps the request');
cmp_ok($elapsed, '<', 15, "timeout error comes before the reply (${elapsed}s)");
$t0 = time();
$err = sql_error(qq{SET uso_tasks.http_timeout = '400ms'; SELECT uso_http_get('$base/_sleep/25')});
like($err, qr/timed out after 400 ms/, 'uso_tasks.http_timeout is the default');
cmp_ok(time() - $t0, '<', 15, 'setting timeout comes before the reply');

# --- size cap -------------------------------------------------------------
is(query(qq{SET uso_tasks.http_max_bytes = '2kB'; SELECT length((uso_http_get('$base/_big/2048')).body)}),
	'2048', 'a body of exactly http_max_bytes is accepted');
like(sql_error(qq{SET uso_tasks.http_max_bytes = '2kB'; SELECT uso_http_get('$base/_big/5000')}),
	qr/ERROR:\s+54000: HTTP response from \Q$base\E\/_big\/5000 exceeds uso_tasks.http_max_bytes \(2048 bytes\)/,
	'a larger body (with Content-Length) is refused');
like(sql_error(qq{SET uso_tasks.http_max_bytes = '2kB'; SELECT uso_http_get('$base/_big/300000?chunked=1')}),
	qr/54000: HTTP response from .* exceeds uso_tasks.http_max_bytes/,
	'a larger body without Content-Length is cut off while reading');

# --- allow list -----------------------------------------------------------
$err = sql_error(qq{SELECT uso_http_get('http://localhost:$port/_secret_localhost')});
like($err, qr/ERROR:\s+42501: host "localhost" is not allowed by uso_tasks.http_allowed_hosts/,
	'a host not in the list is refused (42501, names host and setting)');
like(sql_error(qq{SELECT uso_http_post('http://example.invalid/_x', 'data')}),
	qr/42501: host "example.invalid" is not allowed/, 'POST to a host not in the list is refused');
is(requested(qr{^/_secret_localhost}), 0, 'nothing was sent to the refused host');
cmp_ok(requested(qr{^/data/hello\.txt}), '>', 0, 'while the request log does record requests');
like(sql_error(qq{SELECT uso_http_get('http://127.0.0.1\@localhost:$port/_secret_userinfo')}),
	qr/42501: host "localhost"/, 'user-info tricks do not fool the check');
is(requested(qr{^/_secret_userinfo}), 0, 'nothing sent for the user-info trick');
like(sql_error(qq{SELECT uso_http_get('file:///etc/passwd')}),
	qr/22023: URL scheme "file" is not supported/, 'file:// is refused');
is(query(qq{SET uso_tasks.http_allowed_hosts = 'LOCALHOST:$port';
	SELECT (uso_http_get('http://localhost:$port/data/hello.txt')).status}), '200',
	'host:port entries, case-insensitive');
like(sql_error(qq{SET uso_tasks.http_allowed_hosts = 'localhost:1';
	SELECT uso_http_get('http://localhost:$port/_wrong_port')}),
	qr/42501/, 'a host:port entry allows only that port');

# --- redirects ------------------------------------------------------------
is(query(qq{SELECT (r).status || ' ' || (r).body
	FROM (SELECT uso_http_get('$base/_redirect?to=/data/hello.txt') r) s}), "200 hello\n",
	'a relative redirect to an allowed host is followed');
my $abs = uri_escape("$base/data/hello.txt");
is(query(qq{SELECT (uso_http_get('$base/_redirect?to=$abs&code=307')).body}), "hello\n",
	'an absolute 307 redirect is followed');
like(query(qq{SELECT (uso_http_post('$base/_redirect?to=/_echo&code=303', 'x')).body}),
	qr/"method": "GET"/, '303 turns a POST into a GET');
like(query(qq{SELECT (uso_http_post('$base/_redirect?to=/_echo&code=307', 'keep')).body}),
	qr/"method": "POST".*"body": "keep"/s, '307 keeps POST and body');

my $away = uri_escape("http://localhost:$port/_leak");
$err = sql_error(qq{SELECT uso_http_get('$base/_redirect?to=$away')});
like($err, qr/ERROR:\s+42501: host "localhost" is not allowed by uso_tasks.http_allowed_hosts/,
	'a redirect to a disallowed host is refused');
like($err, qr/DETAIL:\s+HTTP GET .* was redirected to http:\/\/localhost:$port\/_leak/,
	'the error says where the redirect pointed');
is(requested(qr{^/_leak}), 0, 'nothing was sent to the disallowed redirect target');
# A host allowed on one port only: a redirect to another port names the port (issue 21).
my $other_port = uri_escape("http://127.0.0.1:1/_leak");
$err = sql_error(qq{SET uso_tasks.http_allowed_hosts = '127.0.0.1:$port';
	SELECT uso_http_get('$base/_redirect?to=$other_port')});
like($err, qr/ERROR:\s+42501: port 1 of host "127.0.0.1" is not allowed by uso_tasks.http_allowed_hosts/,
	'a redirect to a port not allowed is refused, naming the port');
like($err, qr/DETAIL:\s+HTTP GET .* was redirected to http:\/\/127.0.0.1:1\/_leak/,
	'and says where the redirect pointed');
like(sql_error(qq{SELECT uso_http_get('$base/_redirect?to=file:///etc/passwd')}),
	qr/38000: .*redirected to unsupported URL scheme "file"/, 'a redirect to file:// is refused');

my $chain = '/data/hello.txt';
$chain = '/_redirect?to=' . uri_escape($chain) for 1 .. 5;
is(query(qq{SELECT (uso_http_get('$base$chain')).body}), "hello\n", 'five redirects are followed');
$chain = '/_redirect?to=' . uri_escape($chain);
like(sql_error(qq{SELECT uso_http_get('$base$chain')}),
	qr/38000: .*redirected more than 5 times/, 'a sixth redirect is refused');

my $to_echo = uri_escape("http://localhost:$port/_echo");
my $echoed = query(qq{SET uso_tasks.http_allowed_hosts = '127.0.0.1, localhost';
	SELECT (uso_http_get('$base/_redirect?to=$to_echo',
		'{"Authorization": "Bearer s3cret", "X-Other": "kept"}')).body});
unlike($echoed, qr/s3cret/, 'credentials are not sent to another host after a redirect');
like($echoed, qr/"X-Other": "kept"/, 'other headers are');

# --- cancellation ---------------------------------------------------------
$t0 = time();
$err = sql_error(qq{SET statement_timeout = '500ms';
	SELECT uso_http_get('$base/_sleep/60', NULL, '30 s')});
$elapsed = time() - $t0;
like($err, qr/57014: canceling statement due to statement timeout/,
	'statement_timeout interrupts a slow request');
cmp_ok($elapsed, '<', 15, "and promptly, not at the 30 s cap (${elapsed}s)");
is(query('SELECT 1'), '1', 'the server is fine afterwards');

# --- privileges -----------------------------------------------------------
query(q{CREATE ROLE http_nobody LOGIN; CREATE ROLE http_member LOGIN IN ROLE uso_http});
like(sql_error(qq{SELECT uso_http_get('$base/data/hello.txt')}, extra_params => ['-U', 'http_nobody']),
	qr/42501: permission denied for function uso_http_get/, 'a non-member cannot call uso_http_get');
like(sql_error(qq{SELECT uso_send_mail('a\@example.org', 's', 'b')}, extra_params => ['-U', 'http_nobody']),
	qr/42501: permission denied for function uso_send_mail/, 'nor uso_send_mail');
is($node->safe_psql('postgres', qq{SELECT (uso_http_get('$base/data/hello.txt')).status},
		extra_params => ['-U', 'http_member']), '200', 'a member of uso_http can');
like(sql_error(qq{SELECT uso_http_get('http://localhost:$port/_member')}, extra_params => ['-U', 'http_member']),
	qr/42501: host "localhost" is not allowed/, 'within the allow list only');

# --- mail -----------------------------------------------------------------
my $msgid = query(qq{SELECT uso_send_mail('"Doe, Ann" <ann\@example.org>, bob\@example.org',
	'Reviews due', E'Dear reviewer,\\nplease see:\\n.hidden line\\nThanks')});
like($msgid, qr/^<[0-9a-f]+\.[0-9a-f]{16}\@uso\.example\.org>$/, 'uso_send_mail returns the Message-ID');
my @mails = UsoFixtures::wait_for_mails($smtp, 1);
is(scalar @mails, 1, 'the message arrived once');
my $m = $mails[0];
is($m->{headers}{'x-envelope-from'}, '<office@uso.example.org>', 'envelope sender from uso_tasks.smtp_from');
is($m->{headers}{'x-envelope-to'}, '<ann@example.org>, <bob@example.org>', 'both recipients in the envelope');
is($m->{headers}{from}, 'USO Office <office@uso.example.org>', 'From header');
is($m->{headers}{to}, '"Doe, Ann" <ann@example.org>, bob@example.org', 'To header keeps the quoted name');
is($m->{headers}{subject}, 'Reviews due', 'Subject header');
is($m->{headers}{'message-id'}, $msgid, 'Message-ID header is the returned id');
like($m->{headers}{date}, qr/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/, 'RFC 5322 Date');
is($m->{headers}{'mime-version'}, '1.0', 'MIME-Version');
is($m->{headers}{'content-type'}, 'text/plain; charset=utf-8', 'Content-Type');
is($m->{body}, "Dear reviewer,\r\nplease see:\r\n.hidden line\r\nThanks\r\n",
	'body with CRLF line ends, dot line intact');

query(qq{SELECT uso_send_mail('carol\@example.org', 'Prüfung – Zyklus 2025/1 für Strahlzeit und Bewertungen der Vorschläge',
	E'Grüße\\n', 'Büro <buero\@uso.example.org>')});
@mails = UsoFixtures::wait_for_mails($smtp, 2);
$m = $mails[1];
like($m->{headers}{subject}, qr/^=\?UTF-8\?B\?/, 'a non-ASCII subject is RFC 2047 encoded');
is(decode('MIME-Header', $m->{headers}{subject}),
	decode('UTF-8', 'Prüfung – Zyklus 2025/1 für Strahlzeit und Bewertungen der Vorschläge'),
	'and decodes to the original');
is(decode('MIME-Header', $m->{headers}{from}), decode('UTF-8', 'Büro <buero@uso.example.org>'),
	'a non-ASCII display name is encoded');
is($m->{headers}{'content-transfer-encoding'}, 'quoted-printable', 'non-ASCII body is quoted-printable');
is($m->{body}, "Gr=C3=BC=C3=9Fe\r\n", 'encoded as expected');
is(decode_qp($m->{body}), "Gr\xc3\xbc\xc3\x9fe\n", 'and decodes to the UTF-8 text');

query(qq{SELECT uso_send_mail('dave\@example.org', 'long', repeat('a', 2000))});
@mails = UsoFixtures::wait_for_mails($smtp, 3);
$m = $mails[2];
ok(!grep({ length($_) > 78 } split(/\r\n/, $m->{body})), 'a 2000-character line is folded');
is(decode_qp($m->{body}), ('a' x 2000) . "\n", 'and decodes to the original');

like(sql_error(qq{SELECT uso_send_mail('a\@example.org', E'Hi\\r\\nBcc: victim\@example.org', 'b')}),
	qr/22023: subject must not contain line breaks/, 'a CRLF in the subject is refused');
like(sql_error(qq{SELECT uso_send_mail('reject-me\@example.org', 'x', 'y')}),
	qr/38000: sending mail through smtp:\/\/127\.0\.0\.1:\d+\/ failed/, 'a refused recipient is an error');
like(sql_error(qq{SET uso_tasks.smtp_url = ''; SELECT uso_send_mail('a\@example.org', 's', 'b')}),
	qr/55000: uso_tasks.smtp_url is not set/, 'empty smtp_url is an error');
is(scalar(UsoFixtures::mails($smtp)), 3, 'no message arrived from the refused calls');

# --- inside a task (executor worker, connected as the task's owner) ------
query(q{CREATE ROLE task_http LOGIN IN ROLE uso_http});
query(qq{INSERT INTO uso_task (name, schedule, command, username) VALUES
	('HttpInTask', '0 0 1 1 *', \$\$SELECT (uso_http_get_json('$base/data/items.json')) #>> '{items,0,name}'\$\$, 'task_http'),
	('SlowHttpInTask', '0 0 1 1 *', \$\$SELECT uso_http_get('$base/_sleep/30', NULL, '60 s')\$\$, 'task_http'),
	('MailInTask', '0 0 1 1 *', \$\$SELECT uso_send_mail('erin\@example.org', 'from a task', 'sent by a worker')\$\$, 'task_http')});
my $run = query(q{SELECT uso_run_now('HttpInTask')});
is(query(qq{SELECT uso_wait($run, '30 s')}), 'succeeded', 'a task can call uso_http_get_json');
is(query(qq{SELECT return_message FROM uso_task_run WHERE id = $run}), 'MX', 'and its value is the run message');
$run = query(q{SELECT uso_run_now('MailInTask')});
is(query(qq{SELECT uso_wait($run, '30 s')}), 'succeeded', 'a task can send mail');
@mails = UsoFixtures::wait_for_mails($smtp, 4);
is($mails[3]{headers}{subject}, 'from a task', 'the task\'s mail arrived');
$run = query(q{SELECT uso_run_now('SlowHttpInTask')});
ok($node->poll_query_until('postgres', qq{SELECT EXISTS (SELECT FROM uso_task_run WHERE id = $run AND status = 'running')}),
	'the slow request is running');
my $deadline = time() + 30;
sleep(0.05) while requested(qr{^/_sleep/30}) == 0 && time() < $deadline;
is(requested(qr{^/_sleep/30}), 1, 'the slow request reached the server');
$t0 = time();
query(qq{SELECT uso_cancel($run)});
is(query(qq{SELECT uso_wait($run, '30 s')}), 'cancelled', 'uso_cancel stops a task waiting on HTTP');
cmp_ok(time() - $t0, '<', 15, 'promptly, not when the 30 s reply comes');

$node->stop;
done_testing();
