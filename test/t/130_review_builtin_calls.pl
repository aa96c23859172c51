# Review of issue 21's trust boundary (h7): what a database owner can plant
# against the built-in tasks, which run as the installing superuser.
#
# The built-in task uso_deliver_alerts ran 'SELECT public.uso_deliver_alerts()'
# every 10 seconds (now 'CALL ...' of a procedure).  It takes (max_alerts
# integer DEFAULT 100, ...), so the owner of the database (who may CREATE in
# public on PostgreSQL 15) could create public.uso_deliver_alerts() -- or one
# with one more defaulted argument -- next to it: every delivery run then
# failed "... is not unique", and no alert was ever sent again (the attacker
# silences the alerts of her failing tasks).  A built-in task's command calls
# into _uso_tasks, as housekeeping does.
#
# Also checked here, and held: a schema _uso_tasks or cron planted before
# CREATE EXTENSION; a database default search_path that puts the owner's
# operators before pg_catalog for the superuser's workers and the scheduler.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('review_builtin');
$node->safe_psql('postgres', q{CREATE ROLE dbowner LOGIN});
$node->safe_psql('postgres', q{CREATE DATABASE owned OWNER dbowner});
$node->safe_psql('postgres', q{CREATE DATABASE squat OWNER dbowner});

# -- a schema _uso_tasks planted before CREATE EXTENSION: the install stops
$node->safe_psql('squat', q{CREATE SCHEMA _uso_tasks;
	CREATE FUNCTION _uso_tasks.uso_is_admin() RETURNS boolean LANGUAGE sql AS 'SELECT true'},
	extra_params => ['-U', 'dbowner']);
my ($ret, $out, $err) = $node->psql('squat', 'CREATE EXTENSION uso_tasks');
isnt($ret, 0, 'CREATE EXTENSION stops when schema _uso_tasks was planted');
like($err, qr/schema "_uso_tasks" already exists/, 'saying the schema exists');
is($node->safe_psql('squat', q{SELECT count(*) FROM pg_extension WHERE extname = 'uso_tasks'}), '0',
	'and nothing is installed');
# -- nor does a planted schema cron become the layer's
$node->safe_psql('squat', q{DROP SCHEMA _uso_tasks CASCADE; CREATE SCHEMA cron;
	CREATE FUNCTION cron.schedule(text, text) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint'},
	extra_params => ['-U', 'dbowner']);
($ret, $out, $err) = $node->psql('squat', 'CREATE EXTENSION uso_tasks');
is($node->safe_psql('squat', q{SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	WHERE e.extname = 'uso_tasks' AND d.classid = 'pg_namespace'::regclass
	  AND d.objid = 'cron'::regnamespace}), '0', 'a planted schema cron is not made the extension\'s');

$node->safe_psql('owned', 'CREATE EXTENSION uso_tasks');
my $own = sub { $node->safe_psql('owned', shift, extra_params => ['-U', 'dbowner']) };
my $su = sub { $node->safe_psql('owned', 'SET search_path = pg_catalog, public; ' . shift) };

# -- the owner's operators first on the database's search_path, for everyone
$own->(q{CREATE SCHEMA evil; GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.hit(s text) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF current_user <> 'dbowner' THEN
		RAISE LOG 'review planted code ran: % as %', s, current_user;
	END IF;
END $$;
DO $d$
DECLARE t text; op text; i int := 0;
BEGIN
	FOREACH t IN ARRAY ARRAY['text', 'bigint', 'integer', 'name', 'oid', 'timestamptz', 'boolean',
	                         'double precision', 'interval', '"char"', 'jsonb'] LOOP
		FOREACH op IN ARRAY ARRAY['=', '<>', '<', '<=', '>', '>='] LOOP
			i := i + 1;
			EXECUTE format('CREATE FUNCTION evil.op%s(a %s, b %s) RETURNS boolean LANGUAGE plpgsql
				SET search_path = pg_catalog AS $f$ BEGIN PERFORM evil.hit(%L); RETURN a %s b; END $f$',
				i, t, t, op || ' ' || t, op);
			EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.op%s)',
				op, t, t, i);
		END LOOP;
	END LOOP;
END $d$;
ALTER DATABASE owned SET search_path = evil, pg_catalog, public});

# -- the built-in delivery, with overloads planted next to it in public
$own->(q{CREATE PROCEDURE public.uso_deliver_alerts() LANGUAGE sql AS 'SELECT 0'});
$own->(q{CREATE PROCEDURE public.uso_deliver_alerts(integer, INOUT integer, integer DEFAULT 0)
	LANGUAGE sql AS 'SELECT 0'});
my $run = $su->(q{SELECT uso_run_now('uso_deliver_alerts')});
$su->("SELECT uso_wait($run, '60 s')");
is($su->("SELECT status FROM uso_task_run WHERE id = $run"),
	'succeeded', 'alert delivery still runs with overloads of uso_deliver_alerts planted in public');

# -- the failure of another role's task is still delivered
$node->safe_psql('owned', q{CREATE ROLE alice LOGIN});
$su->(q{SET ROLE alice; SELECT uso_schedule('a_fail', '@manual', 'SELECT 1/0', alert_mail_to => 'ops@example.org')});
my $fail = $su->(q{SELECT uso_run_now('a_fail')});
is($su->("SELECT uso_wait($fail, '60 s')"), 'failed', 'another role\'s failing run is recorded');
my $queued = $node->poll_query_until('owned',
	q{SELECT EXISTS (SELECT FROM public.uso_alert_outbox o WHERE o.task_name OPERATOR(pg_catalog.=) 'a_fail')});
ok($queued, 'its alert is queued');
$run = $su->(q{SELECT uso_run_now('uso_deliver_alerts')});
$su->("SELECT uso_wait($run, '60 s')");
is($su->("SELECT status FROM uso_task_run WHERE id = $run"), 'succeeded',
	'the delivery run that handles it succeeds (the mail itself may fail: no server here)');
is($su->(q{SELECT count(*) FROM uso_alert_outbox WHERE task_name = 'a_fail' AND attempts > 0}), '1',
	'and it tried to deliver the alert');

# -- housekeeping and a run of each outcome, with the owner's operators first
my $hk = $su->(q{SELECT uso_run_now('uso_housekeeping')});
is($su->("SELECT uso_wait($hk, '60 s')"), 'succeeded', 'housekeeping runs');
$su->(q{SET ROLE alice; SELECT uso_schedule('a_ok', '@manual', 'SELECT 1');
	SELECT uso_schedule('a_slow', '@manual', 'SELECT pg_sleep(30)', timeout => '1 s')});
my $ok = $su->(q{SELECT uso_run_now('a_ok')});
my $slow = $su->(q{SELECT uso_run_now('a_slow')});
is($su->("SELECT uso_wait($ok, '60 s')"), 'succeeded', 'a run succeeds');
is($su->("SELECT uso_wait($slow, '60 s')"), 'timed_out', 'a run times out');

unlike(slurp_file($node->logfile), qr/review planted code ran: [^%]/,
	'none of the owner\'s operators ran as another role');
$node->stop;
done_testing();
