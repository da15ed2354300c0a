require ["fileinto", "date", "relational", "variables"];
if date :originalzone "date" "hour" "10" { fileinto "TenLocal"; }
if date :zone "+0000" "date" "date" "2026-12-04" { fileinto "Dec4UTC"; }
if date :zone "+0000" :value "lt" "date" "time" "05:00:00" { fileinto "Night"; }
if date :originalzone "date" "zone" "-0800" { fileinto "Pacific"; }
if date :zone "+0000" "date" "weekday" "5" { fileinto "FridayUTC"; }
if date :zone "+0000" :matches "date" "iso8601" "*Z" { fileinto "UtcIso"; }
if date :zone "+0200" :matches "date" "iso8601" "*+02:00" { fileinto "PlusTwoIso"; }
if date :zone "+0000" :matches "date" "std11" "*" { fileinto "std-${0}"; }
