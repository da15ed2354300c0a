require ["fileinto", "date", "relational"];
if currentdate :value "ge" "year" "2020" { fileinto "Modern"; }
if currentdate :value "lt" "date" "2000-01-01" { fileinto "Ancient"; }
