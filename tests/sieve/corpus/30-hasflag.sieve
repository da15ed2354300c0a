require ["imap4flags", "fileinto"];
addflag "\\Seen junk";
if hasflag :contains "jun" { fileinto "HasJunk"; }
removeflag "junk";
if not hasflag "junk" { fileinto "NoJunk"; }
