# IMAP4rev2 (RFC 9051) through Perl Mail::IMAPClient. Args: port password
use strict;
use warnings;
use Mail::IMAPClient;

my ($port, $pw) = @ARGV;
my $imap = Mail::IMAPClient->new(
    Server   => '127.0.0.1',
    Port     => $port,
    Ssl      => [ SSL_verify_mode => 0 ],
    User     => 'demo',
    Password => $pw,
    Uid      => 1,
) or die "connect/login: $@\n";

$imap->has_capability('IMAP4rev2') or die "no IMAP4rev2 in " . join(' ', $imap->capability) . "\n";
my ($limit) = grep { /^APPENDLIMIT=\d+$/ } $imap->capability;
$limit or die "no APPENDLIMIT\n";

my $uid = $imap->append_string('INBOX', "Subject: from Mail::IMAPClient\r\n\r\nhello\r\n")
    or die "append: " . $imap->LastError . "\n";

my $enabled = $imap->tag_and_run('ENABLE IMAP4rev2') or die "enable: " . $imap->LastError . "\n";
grep { /^\* ENABLED IMAP4rev2\r?\n/ } @$enabled or die "not enabled: @$enabled\n";

$imap->select('INBOX') or die "select: " . $imap->LastError . "\n";
my @select = $imap->Results;
grep { /RECENT/ } @select and die "RECENT after ENABLE IMAP4rev2: @select\n";
grep { /^\* LIST \(.*\) "\/" INBOX\r?\n/ } @select or die "no LIST in SELECT: @select\n";
grep { /^\* \d+ EXISTS/ } @select or die "no EXISTS: @select\n";

my $search = $imap->tag_and_run('UID SEARCH SUBJECT "Mail::IMAPClient"')
    or die "search: " . $imap->LastError . "\n";
grep { /^\* ESEARCH \(TAG "\d+"\) UID ALL $uid\r?\n/ } @$search
    or die "UID SEARCH not answered as ESEARCH ALL $uid: @$search\n";

my $flags = $imap->flags($uid) or die "flags: " . $imap->LastError . "\n";
grep { /Recent/i } @$flags and die "\\Recent in FLAGS: @$flags\n";

my $status = $imap->tag_and_run('STATUS INBOX (MESSAGES DELETED SIZE)')
    or die "status: " . $imap->LastError . "\n";
grep { /^\* STATUS INBOX \(MESSAGES \d+ DELETED \d+ SIZE \d+\)/ } @$status
    or die "STATUS: @$status\n";

$imap->delete_message($uid) or die "delete: " . $imap->LastError . "\n";
$imap->expunge or die "expunge: " . $imap->LastError . "\n";
$imap->logout;
print "rev2 perl ok\n";
