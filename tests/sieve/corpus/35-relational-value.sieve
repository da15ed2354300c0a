require ["fileinto", "relational"];
if header :value "gt" "subject" "m" { fileinto "AfterM"; }
if address :value "le" :localpart "from" "bob" { fileinto "UpToBob"; }
