# UsoFixtures: start the local HTTP and SMTP fixture servers from a TAP test.
#
#   use lib 't/lib';              # TAP tests run from the directory holding t/
#   use UsoFixtures;
#   my $http = UsoFixtures::start_http();          # or (root => $dir)
#   my $smtp = UsoFixtures::start_smtp();
#   $http->{port}, $http->{url} ('http://127.0.0.1:PORT'), $http->{root}, $http->{log}
#   $smtp->{port}, $smtp->{url} ('smtp://127.0.0.1:PORT'), $smtp->{dir}
#   UsoFixtures::write_file($http, 'api/users.json', $json);   # serve a file
#   my @reqs  = UsoFixtures::requests($http);      # hashrefs from requests.log
#   my @mails = UsoFixtures::mails($smtp);          # parsed messages, oldest first
#   my @mails = UsoFixtures::wait_for_mails($smtp, 2);   # polls with a deadline
#
# Servers pick a free port (--port 0) and write it to a port file, which is
# polled for with a deadline.  They are stopped at END (and stop by
# themselves should this process die without running END).
# The fixture scripts are found in $ENV{USO_FIXTURES}, else ../fixtures
# next to this file's t/ directory, else test/fixtures.
package UsoFixtures;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my @servers;    # everything started, stopped at END
my $owner_pid = $$;    # only this process stops them (not forked children)

# Where http_server.py and smtp_sink.py are.
sub fixtures_dir
{
	return $ENV{USO_FIXTURES}
	  if $ENV{USO_FIXTURES} && -f "$ENV{USO_FIXTURES}/http_server.py";
	my $here = dirname(abs_path(__FILE__));    # .../t/lib
	for my $d ("$here/../../fixtures", "$here/../fixtures", 'fixtures', 'test/fixtures')
	{
		return abs_path($d) if -f "$d/http_server.py";
	}
	die "UsoFixtures: cannot find the fixtures directory (set USO_FIXTURES)";
}

# Forks and execs the command with output to $logfile; returns the pid.
sub _spawn
{
	my ($logfile, @cmd) = @_;
	my $pid = fork();
	die "UsoFixtures: fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $logfile);
		open(STDERR, '>&', \*STDOUT);
		exec(@cmd) or POSIX::_exit(127);
	}
	return $pid;
}

# Polls for the port file a server writes once it listens.
sub _wait_port
{
	my ($server, $timeout) = @_;
	my $deadline = time() + ($timeout // 20);
	while (time() < $deadline)
	{
		if (open(my $fh, '<', $server->{portfile}))
		{
			my $port = <$fh>;
			close($fh);
			if (defined $port && $port =~ /^(\d+)\s*$/)
			{
				$server->{port} = $1;
				return $1;
			}
		}
		if (waitpid($server->{pid}, WNOHANG) == $server->{pid})
		{
			$server->{pid} = undef;
			die "UsoFixtures: $server->{kind} server exited at start; see $server->{stdout}";
		}
		sleep(0.05);
	}
	die "UsoFixtures: $server->{kind} server did not start within the deadline";
}

# Starts the HTTP fixture server.  Options: root (directory served; a fresh
# temporary one by default), log (request log; default <root>/../requests.log).
sub start_http
{
	my (%opt) = @_;
	my $base = tempdir('uso_http_XXXXXX', TMPDIR => 1, CLEANUP => 1);
	my $root = $opt{root} // "$base/root";
	make_path($root);
	my $log = $opt{log} // dirname(abs_path($root)) . '/requests.log';
	my $server = {
		kind => 'http',
		root => abs_path($root),
		log => $log,
		portfile => "$base/port",
		stdout => "$base/server.out",
	};
	$server->{pid} = _spawn($server->{stdout}, 'python3', fixtures_dir() . '/http_server.py',
		'--port', 0, '--root', $server->{root}, '--portfile', $server->{portfile},
		'--log', $log);
	push @servers, $server;
	_wait_port($server);
	$server->{url} = "http://127.0.0.1:$server->{port}";
	return $server;
}

# Starts the SMTP sink.  Options: dir (where <n>.eml files go).
sub start_smtp
{
	my (%opt) = @_;
	my $base = tempdir('uso_smtp_XXXXXX', TMPDIR => 1, CLEANUP => 1);
	my $dir = $opt{dir} // "$base/mail";
	make_path($dir);
	my $server = {
		kind => 'smtp',
		dir => abs_path($dir),
		portfile => "$base/port",
		stdout => "$base/server.out",
	};
	$server->{pid} = _spawn($server->{stdout}, 'python3', fixtures_dir() . '/smtp_sink.py',
		'--port', 0, '--dir', $server->{dir}, '--portfile', $server->{portfile});
	push @servers, $server;
	_wait_port($server);
	$server->{url} = "smtp://127.0.0.1:$server->{port}";
	return $server;
}

# Writes a file under the HTTP server's root (creating directories).
sub write_file
{
	my ($http, $relpath, $content) = @_;
	my $path = "$http->{root}/$relpath";
	make_path(dirname($path));
	open(my $fh, '>:raw', $path) or die "UsoFixtures: cannot write $path: $!";
	print $fh $content;
	close($fh);
	return $path;
}

# The requests the HTTP server received so far: hashrefs with method, path,
# host, length (of the request body), time.
sub requests
{
	my ($http) = @_;
	open(my $fh, '<', $http->{log}) or return ();
	my @reqs = map { decode_json($_) } grep { /\S/ } <$fh>;
	close($fh);
	return @reqs;
}

# Parses one saved message: { file, raw, headers => {lc name => value, ...},
# body } (header values unfolded; repeated headers joined with ", ").
sub parse_mail
{
	my ($file) = @_;
	open(my $fh, '<:raw', $file) or die "UsoFixtures: cannot read $file: $!";
	local $/;
	my $raw = <$fh>;
	close($fh);
	my ($head, $body) = split(/\r?\n\r?\n/, $raw, 2);
	$head =~ s/\r?\n[ \t]+/ /g;
	my %headers;
	for my $line (split(/\r?\n/, $head))
	{
		my ($name, $value) = $line =~ /^([^:]+):\s*(.*)$/ or next;
		$name = lc $name;
		$headers{$name} = exists $headers{$name} ? "$headers{$name}, $value" : $value;
	}
	return { file => $file, raw => $raw, headers => \%headers, body => $body // '' };
}

# The messages the sink saved so far, oldest first.
sub mails
{
	my ($smtp) = @_;
	opendir(my $dh, $smtp->{dir}) or return ();
	my @files = sort { $a <=> $b } map { /^(\d+)\.eml$/ ? $1 : () } readdir($dh);
	closedir($dh);
	return map { parse_mail("$smtp->{dir}/$_.eml") } @files;
}

# Polls until at least $n messages arrived (default deadline 30 s); returns them.
sub wait_for_mails
{
	my ($smtp, $n, $timeout) = @_;
	my $deadline = time() + ($timeout // 30);
	while (1)
	{
		my @m = mails($smtp);
		return @m if @m >= $n || time() >= $deadline;
		sleep(0.05);
	}
}

# Stops one server (SIGTERM, then waits for it).
sub stop
{
	my ($server) = @_;
	return unless $server->{pid};
	kill('TERM', $server->{pid});
	waitpid($server->{pid}, 0);
	$server->{pid} = undef;
}

sub stop_all
{
	stop($_) for @servers;
}

END
{
	local $?;    # keep the test's exit status
	stop_all() if $$ == $owner_pid;
}

1;
