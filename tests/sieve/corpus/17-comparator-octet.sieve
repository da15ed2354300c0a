require "fileinto";
if header :comparator "i;octet" :contains "subject" "MAKE" { fileinto "Shouting"; }
if header :comparator "i;octet" :contains "subject" "make" { fileinto "Quiet"; }
if header :comparator "i;ascii-casemap" :is "subject" "lunch on friday?" { fileinto "Lunch"; }
