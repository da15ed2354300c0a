require "imap4flags";
if header :contains "subject" ["lunch", "money"] { addflag "\\Flagged"; }
