# The USO tasks that talk to other services, against the local fixture HTTP
# server serving test/fixtures/http (CrossRef, BioSync/PDB, SCImago, the
# external user list), on the sample facility (test/fixtures/uso_sample.sql):
# replies, a 404 and malformed JSON per item (warning, skipped), a 500, a
# timeout, malformed JSON and a disallowed host for the one request a run
# depends on (a clear error, never a crash), idempotence; then the mail path
# through the runtime: StartReviews + DeliverNotifications deliver ONE
# combined e-mail per reviewer, once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use lib 't/lib';
use UsoFixtures;

my $fixtures = $ENV{USO_FIXTURES} // 'fixtures';
my $http = UsoFixtures::start_http(root => "$fixtures/http");
my $smtp = UsoFixtures::start_smtp();
my $base = $http->{url};

my $node = PostgreSQL::Test::Cluster->new('uso_http');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'uso_tasks'
uso_tasks.http_allowed_hosts = '127.0.0.1'
uso_tasks.smtp_url = '$smtp->{url}'
uso_tasks.timezone = 'America/Regina'
uso_tasks.enabled = off
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION uso_office CASCADE');
$node->command_ok(['psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', "$fixtures/uso_sample.sql"],
	'the sample facility loads');

sub query { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }

# Runs a task call; returns (message, stderr with the NOTICE/WARNING lines).
sub task
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return ($ret == 0 ? $out : "ERROR($ret)", $err);
}

# ---------------------------------------------------------------- FetchCitations
my $cr = qq{'{"crossref_url": "$base/crossref"}'};
my ($msg, $log) = task("SELECT uso.fetch_citations(config => $cr)");
is($msg, '4 publication(s) checked, 3 citation count(s) changed, 2 publication(s) skipped (see warnings)',
	'FetchCitations: counts (a 404 and broken JSON are skipped)');
like($log, qr/NOTICE:  10\.1107\/s1600577526001234: citations 10 -> 12/, 'changed count logged');
like($log, qr/WARNING:  publication 10\.1000\/missing skipped: .*404/, '404 is a warning naming the DOI');
like($log, qr/WARNING:  publication 10\.1000\/broken skipped: .*/, 'malformed JSON is a warning naming the DOI');
is(query("SELECT string_agg(doi || '=' || coalesce(citations::text, '-'), ' ' ORDER BY doi) FROM uso.publication"),
	'10.1000/broken=- 10.1000/missing=- 10.1002/(sici)1097-0258(19980815)17:15=7 '
	  . '10.1021/jacs.5b01234=141 10.1038/s41586-026-01234-5=3 10.1107/s1600577526001234=12',
	'citations stored (the DOI with parentheses and a colon was URL-encoded)');
is(query("SELECT count(*) FROM uso.publication_history WHERE line LIKE 'citations:%'"), '3', 'history lines');
($msg) = task("SELECT uso.fetch_citations(config => $cr)");
is($msg, '4 publication(s) checked, 0 citation count(s) changed, 2 publication(s) skipped (see warnings)',
	'FetchCitations: second run changes nothing');
is(query("SELECT count(*) FROM uso.publication_history"), '3', 'no new history lines');

# a host outside uso_tasks.http_allowed_hosts: every item refused, the run still ends
($msg, $log) = task(qq{SELECT uso.fetch_citations(config => '{"crossref_url": "http://localhost:$http->{port}/crossref"}')});
is($msg, '0 publication(s) checked, 0 citation count(s) changed, 6 publication(s) skipped (see warnings)',
	'disallowed host: each item skipped');
like($log, qr/WARNING:  publication .* skipped: .*localhost.*allowed/i, 'the warning says the host is not allowed');

# ---------------------------------------------------------------- UpdatePublications
($msg, $log) = task("SELECT uso.update_publications(config => $cr)");
is($msg, '2 publication(s) checked, 2 updated, 2 publication(s) skipped (see warnings)',
	'UpdatePublications: this month\'s and undated articles');
is(query("SELECT title || ' | ' || authors || ' | ' || array_to_string(subjects, ',') || ' | ' || volume || '(' || issue || ') ' || pages || ' | ' || (SELECT issn FROM uso.journal j WHERE j.id = journal_id) FROM uso.publication WHERE doi = '10.1038/s41586-026-01234-5'"),
	'A bacterial enzyme that cuts plastic | Mia Chen; Raj Patel; Sam Okafor | Multidisciplinary | 640(8060) 512-518 | 00280836',
	'metadata from CrossRef');
is(query("SELECT published FROM uso.publication WHERE doi = '10.1038/s41586-026-01234-5'"), '2026-11-01',
	'a year-month issued date is the first of the month');
($msg) = task("SELECT uso.update_publications(config => $cr)");
like($msg, qr/^\d publication\(s\) checked, 0 updated/, 'UpdatePublications: second run changes nothing');

# ---------------------------------------------------------------- FetchBioSync
my $bs = qq{'{"biosync_url": "$base/biosync", "pdb_url": "$base/pdb"}'};
($msg, $log) = task("SELECT uso.fetch_bio_sync(config => $bs)");
is($msg, '2 PDB deposit(s) added, 0 updated, 1 linked to publications, 3 item(s) skipped (see warnings)',
	'FetchBioSync: counts');
like($log, qr/WARNING:  beamline CMCF-BM skipped: .*404/, 'a missing listing skips its beamline');
like($log, qr/WARNING:  PDB entry 8ABE of beamline CMCF-ID skipped/, 'a missing entry is skipped');
like($log, qr/WARNING:  PDB entry NOT-A-PDB-ID of beamline CMCF-ID skipped: not a PDB id/, 'a bad id is skipped');
is(query("SELECT string_agg(pdb_code || ':' || coalesce(released::text, 'hold') || ':' || coalesce((SELECT doi FROM uso.publication p WHERE p.id = publication_id), '-'), ' ' ORDER BY pdb_code) FROM uso.pdb_deposit"),
	'8ABC:2026-10-28:10.1038/s41586-026-01234-5 8ABD:hold:-', 'deposits stored and linked by DOI');
($msg) = task("SELECT uso.fetch_bio_sync(config => $bs)");
is($msg, '0 PDB deposit(s) added, 0 updated, 0 linked to publications, 3 item(s) skipped (see warnings)',
	'FetchBioSync: second run changes nothing');

# ---------------------------------------------------------------- UpdateMetrics
($msg, $log) = task(qq{SELECT uso.update_metrics(config => '{"metrics_url": "$base/scimago/{year}.csv", "year": 2025}')});
is($msg, 'metrics of 3 journal(s) updated for 2025 (5 row(s) read), 1 row(s) skipped (see warnings)',
	'UpdateMetrics from the SCImago CSV');
like($log, qr/WARNING:  metrics row 5 \(ISSN 99999999\) skipped/, 'a bad row is a warning');
is(query("SELECT string_agg(j.issn || ':' || m.sjr || '/' || m.h_index || '/' || m.impact_factor, ' ' ORDER BY j.issn) FROM uso.journal_metric m JOIN uso.journal j ON j.id = m.journal_id"),
	'00027863:5.123/612/15.1 00280836:18.509/1331/14.2 09090495:0.901/90/2.5', 'metrics (decimal commas read)');
($msg) = task(qq{SELECT uso.update_metrics(config => '{"metrics_url": "$base/scimago/{year}.csv", "year": 2025}')});
like($msg, qr/^metrics of 0 journal\(s\) updated/, 'UpdateMetrics: second run changes nothing');
($msg) = task(qq{SELECT uso.update_metrics(config => '{"metrics_url": "$base/scimago/{year}.json", "year": 2025, "format": "json"}')});
is($msg, 'metrics of 1 journal(s) updated for 2025 (3 row(s) read), 1 row(s) skipped (see warnings)',
	'UpdateMetrics from JSON');
($msg, $log) = task(qq{SELECT uso.update_metrics(config => '{"metrics_url": "$base/_status/500", "format": "csv"}')});
like($log, qr/ERROR:  GET .*_status\/500 returned HTTP 500/, 'a 500 for the export fails the run clearly');

# ---------------------------------------------------------------- SyncUsers
my $users = sub { my ($file, $extra) = @_; $extra //= ''; return qq{'{"users_url": "$base/users/$file"$extra}'}; };
($msg, $log) = task('SELECT uso.sync_users(config => ' . $users->('users.json') . ')');
is($msg, '1 user(s) created, 0 updated, 2 deactivated, 3 record(s) skipped (see warnings)', 'SyncUsers: counts');
like($log, qr/WARNING:  user 'frank': e-mail 'not an address' is not a valid address, skipped/,
	'malformed record is a warning naming the user and what is wrong');
like($log, qr/WARNING:  user 'nobody': the record has no id: .*, skipped/, 'record without id is a warning naming the user');
unlike($log, qr/constraint|user record \d/, 'no warning names a constraint or a record number alone');
like($log, qr/NOTICE:  user dana deactivated/, 'removed users are deactivated');
is(query("SELECT string_agg(username || ':' || active, ' ' ORDER BY username) FROM uso.app_user WHERE external_id IS NOT NULL"),
	'alice:true bob:true dana:false erin:true kim:false', 'users after the sync');
is(query("SELECT i.name FROM uso.app_user u JOIN uso.institution i ON i.id = u.institution_id WHERE username = 'erin'"),
	'University of Saskatchewan', 'institution matched by name');
($msg) = task('SELECT uso.sync_users(config => ' . $users->('users.json') . ')');
is($msg, '0 user(s) created, 0 updated, 0 deactivated, 3 record(s) skipped (see warnings)',
	'SyncUsers: second run changes nothing');
($msg) = task('SELECT uso.sync_users(config => ' . $users->('users-next.json') . ')');
is($msg, '1 user(s) created, 1 updated, 1 deactivated', 'SyncUsers: changed, new and removed users');
($msg) = task('SELECT uso.sync_users(config => ' . $users->('users-next.json', ', "removed": "delete"') . ')');
# kim is only a reviewer (deleted with her reviewer row); dana and bob are
# spokespersons, so they stay (already inactive)
is($msg, '0 user(s) created, 0 updated, 0 deactivated, 1 deleted', 'removed = delete deletes the unreferenced');
is(query("SELECT string_agg(username || ':' || active, ' ' ORDER BY username) FROM uso.app_user WHERE external_id IS NOT NULL"),
	'alice:true bob:false dana:false erin:true gina:true', 'referenced users stay, inactive');
($msg, $log) = task('SELECT uso.sync_users(config => ' . $users->('empty.json') . ')');
like($log, qr/ERROR:  the user list from .* is empty: refusing/, 'an empty list is refused');
for my $case (['_status/500', qr/500/, 'a 500 reply'],
	['_malformed', qr/ERROR:/, 'malformed JSON'],
	['_sleep/5', qr/ERROR:  .*(time|Timeout)/i, 'a timeout'])
{
	my ($path, $re, $what) = @$case;
	($msg, $log) = task(qq{SELECT uso.sync_users(config => '{"users_url": "$base/$path", "timeout": "1 second"}')});
	is($msg, 'ERROR(3)', "$what fails the run");
	like($log, $re, "$what: clear error") or diag($log);
}
($msg, $log) = task(q{SELECT uso.sync_users(config => '{"users_url": "http://example.com/users"}')});
like($log, qr/ERROR:  .*example\.com.*allowed/i, 'a disallowed host fails the run clearly');
is(query('SELECT 1'), '1', 'the server is fine');

# ---------------------------------------------------------------- mail, through the runtime
# Only lee may review: every new review goes to lee, who must get ONE e-mail listing them all.
query("UPDATE uso.reviewer r SET active = (u.username = 'lee') FROM uso.app_user u WHERE u.id = r.user_id");
my $run = query("SELECT uso_run_now('AdvanceReviewWorkflow')");
is(query("SELECT uso_wait($run, '60 seconds')"), 'succeeded', 'AdvanceReviewWorkflow run succeeded');
is(query("SELECT return_message FROM uso_task_run WHERE id = $run"),
	'3 review(s) created, 0 submission(s) approved, 0 rejected', 'its message');
$run = query("SELECT uso_run_now('StartReviews')");
is(query("SELECT uso_wait($run, '60 seconds')"), 'succeeded', 'StartReviews run succeeded');
is(query("SELECT return_message FROM uso_task_run WHERE id = $run"),
	'3 review(s) opened, 1 reviewer(s) notified, 3 submission(s) started', 'one reviewer notified');
is(query("SELECT string_agg(message, ' | ' ORDER BY seq) FROM uso_task_log WHERE run_id = $run"),
	'reviewer lee asked for 3 review(s) | 3 submission(s) started', 'its log lines');
$run = query("SELECT uso_run_now('DeliverNotifications')");
is(query("SELECT uso_wait($run, '60 seconds')"), 'succeeded', 'DeliverNotifications run succeeded');
is(query("SELECT return_message FROM uso_task_run WHERE id = $run"), '1 notification(s) sent', 'one mail sent');
my @mails = UsoFixtures::wait_for_mails($smtp, 1);
is(scalar(@mails), 1, 'one e-mail arrived');
like($mails[0]{headers}{to} // '', qr/lee\@example\.org/, 'to the reviewer');
like($mails[0]{headers}{subject} // '', qr/3 proposal\(s\) to review/, 'subject counts the reviews');
my $body = $mails[0]{body};
$body =~ s/=\r?\n//g;
like($body, qr/P-101.*\n.*P-102.*\n.*P-103/, 'all three reviews listed in the one e-mail');
$run = query("SELECT uso_run_now('DeliverNotifications')");
query("SELECT uso_wait($run, '60 seconds')");
is(query("SELECT return_message FROM uso_task_run WHERE id = $run"), '0 notification(s) sent', 'second run sends nothing');
is(scalar(UsoFixtures::mails($smtp)), 1, 'the e-mail arrived exactly once');

# the admin page lists the 17 tasks with the seed's wording for the date-driven ones
is(query("SELECT count(*) FROM uso_background_tasks b JOIN uso_task t USING (name) WHERE t.command LIKE 'SELECT uso.%'"), '17', '17 USO tasks listed');
is(query("SELECT frequency FROM uso_background_tasks WHERE name = 'CreateCallProjects'"),
	'at 00:15 every day', 'CreateCallProjects frequency (daily; it acts on cycles whose allocation date has come)');

$node->stop;
done_testing();
