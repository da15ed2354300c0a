require ["fileinto", "relational", "comparator-i;ascii-numeric"];
if header :value "lt" :comparator "i;ascii-numeric" "x-priority" "4" { fileinto "Priority"; }
if header :is :comparator "i;ascii-numeric" "x-priority" "003" { fileinto "Three"; }
