require ["envelope", "relational", "comparator-i;ascii-numeric", "fileinto"];
if envelope :count "eq" :comparator "i;ascii-numeric" "to" "1" { fileinto "OneRcpt"; }
if envelope :matches :localpart "from" "*-bounces" { fileinto "ListBounce"; }
