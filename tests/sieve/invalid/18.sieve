require "date";
if date :zone "junk" "date" "year" "2020" { keep; }
