# The USO HTTP tasks against a fixture server that misbehaves item by item
# (test/fixtures/http_server.py's _faults.json): error statuses, a reply
# slower than the timeout, a body over uso_tasks.http_max_bytes, malformed
# and wrongly shaped JSON, a connection reset, a truncated body, a stalled
# body. Every bad item is ONE warning naming it the way the admin page shows
# it (DOI, beamline, PDB id, ISSN, user name), never a constraint name, and
# the good items of the same run are committed. For the one request a run
# depends on (the metrics export, the user list) each fault fails the run
# with a clear error and changes nothing. Then DeliverNotifications against
# an SMTP server that refuses, stalls and drops the connection.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);

use lib 't/lib';
use UsoFixtures;

my $http = UsoFixtures::start_http();
my $smtp = UsoFixtures::start_smtp();
my $base = $http->{url};

my $node = PostgreSQL::Test::Cluster->new('uso_http_faults');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'uso_tasks'
uso_tasks.http_allowed_hosts = '127.0.0.1'
uso_tasks.http_max_bytes = '64kB'
uso_tasks.http_timeout = '5s'
uso_tasks.smtp_url = '$smtp->{url}'
uso_tasks.timezone = 'America/Regina'
uso_tasks.enabled = off
timezone = 'Asia/Tokyo'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION uso_office CASCADE');

sub query { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }

# Runs a task call; returns (message or "ERROR", stderr with the NOTICE/WARNING lines).
sub task
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return ($ret == 0 ? $out : 'ERROR', $err);
}

sub faults { UsoFixtures::write_file($http, '_faults.json', encode_json({@_})); }
sub warnings_of { my ($log) = @_; return scalar(() = $log =~ /WARNING:  /g); }

my %bad = (
	'slow' => { sleep => 3 },
	'big' => { big => 200000 },
	'malformed' => { malformed => JSON::PP::true },
	'reset' => { reset => JSON::PP::true },
	'truncated' => { truncate => JSON::PP::true },
	'stalled' => { stall => JSON::PP::true },
	'down' => { status => 503 },
	'html' => { body => '<html>maintenance</html>', ctype => 'text/html' },
	'shape' => { body => '{"message": {"is-referenced-by-count": "many", "title": "not a list", '
		  . '"issued": {"date-parts": [[2026, 13, 40]]}}}' },
	'negative' => { body => '{"message": {"is-referenced-by-count": -4, "issued": {"date-parts": [["soon"]]}}}' });
my @bad = sort keys %bad;

# ---------------------------------------------------------------- CrossRef
query(join('; ',
	"INSERT INTO uso.publication (doi, citations) VALUES ('10.1000/ok', 1)",
	map { "INSERT INTO uso.publication (doi, citations) VALUES ('10.1000/$_', 1)" } @bad));
UsoFixtures::write_file($http, 'crossref/works/10.1000/ok',
	'{"message": {"is-referenced-by-count": 9, "title": ["Fine"], "issued": {"date-parts": [[2026, 3]]}}}');
faults(map { ("/crossref/works/10.1000/$_" => $bad{$_}) } @bad);
my $cr = qq{'{"crossref_url": "$base/crossref", "timeout": "1 second"}'};

my $t0 = time();
my ($msg, $log) = task("SELECT uso.fetch_citations(config => $cr)");
is($msg, '1 publication(s) checked, 1 citation count(s) changed, 10 publication(s) skipped (see warnings)',
	'FetchCitations: every bad reply skipped, the good one counted');
ok(time() - $t0 < 60, 'slow and stalled replies are cut off by the timeout');
is(warnings_of($log), 10, 'one warning per bad DOI') or diag($log);
for my $d (@bad)
{
	like($log, qr/WARNING:  publication 10\.1000\/$d skipped: \S/m, "FetchCitations: $d is a warning naming the DOI");
}
like($log, qr/10\.1000\/slow skipped: .*(time|Timeout)/i, 'the slow one says it timed out');
like($log, qr/10\.1000\/big skipped: .*(large|size|limit|bytes)/i, 'the oversized one says it is too large');
like($log, qr/10\.1000\/down skipped: .*503/, 'the 503 names the status');
unlike($log, qr/_check|_key\b|violates/, 'no constraint names in the warnings');
is(query("SELECT string_agg(doi || '=' || citations, ' ' ORDER BY doi) FROM uso.publication WHERE citations <> 1"),
	'10.1000/ok=9', 'the good DOI is committed, the bad ones untouched');

($msg, $log) = task("SELECT uso.update_publications(config => $cr)");
is($msg, '1 publication(s) checked, 1 updated, 10 publication(s) skipped (see warnings)',
	'UpdatePublications: every bad reply skipped, the good one counted');
for my $d (@bad)
{
	like($log, qr/WARNING:  publication 10\.1000\/$d skipped: \S/m, "UpdatePublications: $d is a warning naming the DOI");
}
unlike($log, qr/_check|_key\b|violates/, 'no constraint names in the warnings');
is(query("SELECT title || ' ' || published FROM uso.publication WHERE doi = '10.1000/ok'"), 'Fine 2026-03-01',
	'the good DOI is committed');

# ---------------------------------------------------------------- BioSync / PDB
query(q{INSERT INTO uso.beamline (acronym, name) VALUES ('BL-OK', 'fine'), ('BL-SLOW', 'slow'),
	('BL-BIG', 'big'), ('BL-BAD', 'malformed'), ('BL-RESET', 'reset'), ('BL-SHAPE', 'shape')});
UsoFixtures::write_file($http, 'biosync/BL-OK.json', '["1AAA", "2BBB", "3CCC", "4DDD", "5EEE", "6FFF", "7GGG"]');
UsoFixtures::write_file($http, 'biosync/BL-SHAPE.json', '{"count": 3}');
my $entry = sub {
	my ($code, $date) = @_;
	return qq({"struct": {"title": "Entry $code"}, "rcsb_accession_info": {"deposit_date": "$date",
		"initial_release_date": "2026-02-01T00:00:00+0000"}});
};
UsoFixtures::write_file($http, 'pdb/core/entry/1AAA', $entry->('1AAA', '2026-01-05T00:00:00+0000'));
UsoFixtures::write_file($http, 'pdb/core/entry/7GGG', $entry->('7GGG', 'last tuesday'));
faults('/biosync/BL-SLOW.json' => $bad{slow}, '/biosync/BL-BIG.json' => $bad{big},
	'/biosync/BL-BAD.json' => $bad{malformed}, '/biosync/BL-RESET.json' => $bad{reset},
	'/pdb/core/entry/2BBB' => $bad{slow}, '/pdb/core/entry/3CCC' => $bad{truncated},
	'/pdb/core/entry/4DDD' => $bad{malformed}, '/pdb/core/entry/5EEE' => $bad{big},
	'/pdb/core/entry/6FFF' => { body => '["not", "an", "object"]' });
($msg, $log) = task(qq{SELECT uso.fetch_bio_sync(config => '{"biosync_url": "$base/biosync", "pdb_url": "$base/pdb", "timeout": "1 second"}')});
is($msg, '1 PDB deposit(s) added, 0 updated, 0 linked to publications, 11 item(s) skipped (see warnings)',
	'FetchBioSync: bad listings and bad entries skipped, the good entry added');
is(warnings_of($log), 11, 'one warning per bad listing or entry') or diag($log);
for my $b (qw(BL-SLOW BL-BIG BL-BAD BL-RESET BL-SHAPE))
{
	like($log, qr/WARNING:  beamline $b skipped: \S/m, "a bad listing is a warning naming beamline $b");
}
for my $c (qw(2BBB 3CCC 4DDD 5EEE 6FFF 7GGG))
{
	like($log, qr/WARNING:  PDB entry $c of beamline BL-OK skipped: \S/m, "a bad entry is a warning naming $c");
}
like($log, qr/7GGG of beamline BL-OK skipped: .*last tuesday/, 'a bad date says which value is bad');
is(query("SELECT string_agg(pdb_code || ':' || deposited, ' ') FROM uso.pdb_deposit"), '1AAA:2026-01-05',
	'the good entry is committed');

# ---------------------------------------------------------------- SCImago: the run depends on the export
query(q{INSERT INTO uso.journal (issn, title) VALUES ('12345678', 'Good'), ('23456789', 'Bad numbers')});
UsoFixtures::write_file($http, 'scimago/ok.csv',
	qq{Rank;Title;Issn;SJR;H index;Cites / Doc. (2years)\n1;Good;"12345678";1,5;10;2,0\n2;Bad;"23456789";lots;10;2,0\n});
($msg, $log) = task(qq{SELECT uso.update_metrics(config => '{"metrics_url": "$base/scimago/ok.csv", "year": 2025}')});
is($msg, 'metrics of 1 journal(s) updated for 2025 (2 row(s) read), 1 row(s) skipped (see warnings)',
	'UpdateMetrics: a bad row is skipped, the good one committed');
like($log, qr/WARNING:  metrics row 2 \(ISSN 23456789\) skipped: .*lots/m, 'the bad row names its ISSN and value');
for my $k (qw(slow big malformed reset truncated stalled down html))
{
	faults('/scimago/broken.csv' => $bad{$k});
	($msg, $log) = task(qq{SELECT uso.update_metrics(config => '{"metrics_url": "$base/scimago/broken.csv", "year": 2024, "timeout": "1 second"}')});
	is($msg, 'ERROR', "UpdateMetrics: a $k export fails the run");
	like($log, qr/ERROR:  .*\S/m, "UpdateMetrics: a $k export is a clear error") or diag($log);
}
is(query("SELECT count(*) FROM uso.journal_metric WHERE year = 2024"), '0', 'a failed export changes nothing');

# ---------------------------------------------------------------- SyncUsers: the run depends on the list
UsoFixtures::write_file($http, 'users/list.json', encode_json({ results => [
	{ id => 'u1', username => 'ann', email => 'ann@example.org' },
	{ id => 'u2', username => 'bad name', email => 'b@example.org' },
	{ id => 'u3', username => 'cid', email => 'not-an-address' },
	{ id => 'u4', username => 'ann', email => 'ann2@example.org' },
	{ id => 'u5', username => 'dot', email => 'dot@example.org', first_name => { nested => 1 } },
	'just a string' ] }));
($msg, $log) = task(qq{SELECT uso.sync_users(config => '{"users_url": "$base/users/list.json"}')});
is($msg, '1 user(s) created, 0 updated, 0 deactivated, 5 record(s) skipped (see warnings)',
	'SyncUsers: bad records skipped, the good one created');
like($log, qr/WARNING:  user 'bad name': the user name may hold only .*, skipped/m, 'a bad username is named');
like($log, qr/WARNING:  user 'cid': e-mail 'not-an-address' is not a valid address, skipped/m, 'a bad e-mail is named');
like($log, qr/WARNING:  user 'ann': the user name is already taken by another user \(this record has id 'u4'\), skipped/m,
	'a taken username is named');
like($log, qr/WARNING:  record 6 of the user list: the record has no id: "just a string", skipped/m,
	'a record that is not an object');
unlike($log, qr/_check|_key\b|violates/, 'no constraint names in the warnings') or diag($log);
is(query("SELECT string_agg(username, ' ') FROM uso.app_user"), 'ann', 'the good record is committed');
for my $k (qw(slow big malformed reset truncated stalled down html))
{
	faults('/users/list.json' => $bad{$k});
	($msg, $log) = task(qq{SELECT uso.sync_users(config => '{"users_url": "$base/users/list.json", "timeout": "1 second"}')});
	is($msg, 'ERROR', "SyncUsers: a $k list fails the run");
	like($log, qr/ERROR:  .*\S/m, "SyncUsers: a $k list is a clear error") or diag($log);
}
is(query("SELECT string_agg(username || ':' || active, ' ') FROM uso.app_user"), 'ann:true',
	'a failed list deactivates nobody');
faults();

# ---------------------------------------------------------------- DeliverNotifications and SMTP faults
# Runs DeliverNotifications as a task (uso_run_now + uso_wait) and returns its message.
sub deliver
{
	my $run = query("SELECT uso_run_now('DeliverNotifications')");
	my $status = query("SELECT uso_wait($run, '120 seconds')");
	return query("SELECT '$status: ' || return_message FROM uso_task_run WHERE id = $run");
}
query(q{UPDATE uso_task SET config = config || '{"max_attempts": 2, "backoff": "0 seconds"}' WHERE name = 'DeliverNotifications'});
query(q{INSERT INTO uso.notification (kind, recipient, subject, body) VALUES
	('review-request', 'first@example.org', 'one', 'x'), ('review-request', 'second@example.org', 'two', 'x')});
for my $mode (qw(refuse stall drop))
{
	UsoFixtures::write_file({ root => $smtp->{dir} }, '_mode', $mode);
	my $t = time();
	like(deliver(), qr/^succeeded: 0 notification\(s\) sent, 2 failed \(will retry\)/,
		"SMTP $mode: the run succeeds, both messages wait for a retry");
	ok(time() - $t < 100, "SMTP $mode: the run ends (no hang)");
	like(query("SELECT string_agg(coalesce(last_error, '-'), ' | ' ORDER BY id) FROM uso.notification"),
		qr/\S/, "SMTP $mode: the error is stored");
	query(q{UPDATE uso.notification SET attempts = 0, status = 'pending', send_after = now()});
}
# a stalled server costs a few timeouts per run, not one per message of the batch
query(q{UPDATE uso.notification SET send_after = now() + interval '1 day'});
query(q{INSERT INTO uso.notification (kind, recipient, subject, body)
	SELECT 'review-request', 'many' || i || '@example.org', 'batch', 'x' FROM generate_series(1, 8) i});
query(q{UPDATE uso_task SET config = config || '{"stop_after_failures": 2}' WHERE name = 'DeliverNotifications'});
UsoFixtures::write_file({ root => $smtp->{dir} }, '_mode', 'stall');
my $t1 = time();
like(deliver(), qr/^succeeded: 0 notification\(s\) sent, 2 failed \(will retry\), stopped after 2 failures in a row \(6 left for the next run\)$/,
	'SMTP stall: the run stops after 2 failures in a row');
ok(time() - $t1 < 25, 'SMTP stall: two timeouts, not eight');
is(query(q{SELECT string_agg(attempts::text, '' ORDER BY id) FROM uso.notification WHERE subject = 'batch'}), '11000000',
	'the rest of the batch is untouched for the next run');
query(q{DELETE FROM uso.notification WHERE subject = 'batch'});
query(q{UPDATE uso.notification SET send_after = now()});
query(q{UPDATE uso_task SET config = config - 'stop_after_failures' WHERE name = 'DeliverNotifications'});
UsoFixtures::write_file({ root => $smtp->{dir} }, '_mode', '');
like(deliver(), qr/^succeeded: 2 notification\(s\) sent$/, 'the server is back: both are sent');
my @mails = UsoFixtures::wait_for_mails($smtp, 2);
is(scalar(@mails), 2, 'two mails arrived');
like(deliver(), qr/^succeeded: 0 notification\(s\) sent$/, 'and never again');
is(scalar(UsoFixtures::mails($smtp)), 2, 'each exactly once');
# one recipient refused among good ones: the others are sent, the refused one given up after max_attempts
query(q{INSERT INTO uso.notification (kind, recipient, subject, body) VALUES
	('review-request', 'reject-me@example.org', 'no', 'x'), ('review-request', 'third@example.org', 'three', 'x')});
like(deliver(), qr/^succeeded: 1 notification\(s\) sent, 1 failed \(will retry\)$/, 'a refused recipient does not stop the rest');
like(deliver(), qr/^succeeded: 0 notification\(s\) sent, 1 given up$/, 'given up after max_attempts');
# (libcurl reports a refused recipient as "Failed sending data to the peer",
# without the server's 550 line: the engine's uso_send_mail would have to
# pass the SMTP reply on)
like(query("SELECT status || ': ' || last_error FROM uso.notification WHERE recipient LIKE 'reject%'"),
	qr/^failed: .*\S/, 'the refusal is stored');

# the facility zone inside a worker is uso_tasks.timezone, whatever the server's TimeZone
query(q{SELECT uso_schedule('zone-probe', '@manual', 'SELECT uso.local_zone()')});
my $zrun = query("SELECT uso_run_now('zone-probe')");
is(query("SELECT uso_wait($zrun, '60 seconds')"), 'succeeded', 'a task run reads the facility zone');
is(query("SELECT return_message FROM uso_task_run WHERE id = $zrun"), 'America/Regina',
	'a worker computes dates in uso_tasks.timezone');
is(query('SELECT 1'), '1', 'the server is fine');

$node->stop;
done_testing();
