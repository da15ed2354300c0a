require "date";
if date "date" "nopart" "x" { keep; }
