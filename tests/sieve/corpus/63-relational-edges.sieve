require ["fileinto", "relational", "comparator-i;ascii-numeric"];
if header :count "eq" :comparator "i;ascii-numeric" "x-absent" "0" { fileinto "CountZero"; }
if header :value "lt" :comparator "i;ascii-numeric" "x-absent" "5" { fileinto "AbsentLess"; }
if header :value "gt" :comparator "i;ascii-numeric" "subject" "99999" { fileinto "SubjectInfinite"; }
if header :value "eq" :comparator "i;ascii-numeric" "subject" "x" { fileinto "InfEqInf"; }
if address :count "ne" :comparator "i;ascii-numeric" "to" "1" { fileinto "NotOneTo"; }
if header :value "ge" :comparator "i;ascii-casemap" "subject" "LUNCH" { fileinto "GeLunch"; }
if header :value "lt" :comparator "i;octet" "subject" "a" { fileinto "LtLowerA"; }
