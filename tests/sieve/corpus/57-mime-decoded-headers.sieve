require "fileinto";
if header :contains "subject" "Réunion" { fileinto "Decoded"; }
if header :contains "from" "Renée" { fileinto "Renee"; }
if address :domain :is "from" "example.fr" { fileinto "Fr"; }
