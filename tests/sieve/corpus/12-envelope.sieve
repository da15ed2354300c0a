require ["envelope", "fileinto"];
if envelope :domain :is "from" "lists.example.org" { fileinto "Lists"; }
if envelope :is "to" "bob@example.net" { fileinto "Direct"; }
if envelope :is "from" "" { fileinto "Bounces"; }
