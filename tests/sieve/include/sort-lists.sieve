require ["include", "fileinto"];
if exists "list-id" { fileinto "Lists"; return; }
if header :contains "subject" "lunch" { fileinto "Lunch"; }
