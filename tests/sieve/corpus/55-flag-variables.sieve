require ["imap4flags", "variables", "fileinto"];
set "f" "\\Seen";
addflag "${f}";
fileinto :flags "${f} \\Answered" "Answered";
addflag "myflags" "Custom";
if hasflag "myflags" "custom" { fileinto "HasCustom"; }
