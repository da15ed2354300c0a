require ["fileinto", "date", "variables"];
if date :zone "+0000" :matches "date" "julian" "*" { set "j" "${1}"; }
if date :zone "+0530" :matches "date" "date" "*" { set "d" "${1}"; }
if date :zone "-0330" :matches "date" "time" "*" { set "t" "${1}"; }
if date :originalzone :matches "date" "weekday" "*" { set "w" "${1}"; }
if date :zone "+1400" :matches "date" "year" "*" { set "y" "${1}"; }
if date :zone "+0000" :matches "date" "month" "*" { set "m" "${1}"; }
if date :zone "+0000" :matches "date" "day" "*" { set "dd" "${1}"; }
fileinto "D/${j}_${d}_${t}_${w}_${y}_${m}_${dd}";
