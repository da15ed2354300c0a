require ["editheader", "fileinto"];
deleteheader "x-spam-flag";
deleteheader :matches "subject" "*money*";
if not exists "x-spam-flag" { fileinto "Cleaned"; }
if not exists "subject" { fileinto "NoSubject"; }
deleteheader "received";
if exists "received" { fileinto "TraceKept"; }
