require ["fileinto", "index", "date"];
if header :index 1 :contains "received" "mail.example.net" { fileinto "FirstHop"; }
if header :index 1 :last :contains "received" "spam.example" { fileinto "Origin"; }
if date :index 2 :zone "+0000" "received" "hour" "02" { fileinto "SecondHopAtTwo"; }
