require "reject";
if address :domain :is "from" "spam.example" { reject "No spam, thank you."; }
