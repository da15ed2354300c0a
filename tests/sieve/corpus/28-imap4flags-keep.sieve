require "imap4flags";
if header :contains "subject" "lunch" { addflag "\\Flagged"; }
addflag ["\\Seen", "$Label1"];
keep;
