if header :comparator "i;ascii-numeric" "subject" "1" { keep; }
