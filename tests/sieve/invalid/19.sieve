if header :comparator "i;nosuch" "subject" "x" { keep; }
