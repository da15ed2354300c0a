require ["fileinto", "variables", "relational", "comparator-i;ascii-numeric"];
if address :all :matches "to" "*" { fileinto "all-[${1}]"; }
if address :localpart :matches "to" "*" { fileinto "lp-[${1}]"; }
if address :domain :matches "to" "*" { fileinto "dom-[${1}]"; }
if address :count "eq" :comparator "i;ascii-numeric" "to" "0" { fileinto "zero"; }
if address :count "eq" :comparator "i;ascii-numeric" "to" "1" { fileinto "one"; }
if address :is "to" "" { fileinto "empty"; }
