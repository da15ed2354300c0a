require "envelope";
if envelope "nopart" "x" { keep; }
