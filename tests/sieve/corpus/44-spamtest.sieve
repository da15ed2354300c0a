require ["fileinto", "spamtest", "relational", "comparator-i;ascii-numeric"];
if spamtest :value "eq" :comparator "i;ascii-numeric" "0" { fileinto "Untested"; }
elsif spamtest :value "ge" :comparator "i;ascii-numeric" "6" { fileinto "Junk"; }
else { fileinto "Ham"; }
