require "fileinto";
if address :localpart :is "cc" "dave+work" { fileinto "Dave"; }
if address :domain :is ["to", "cc"] "example.org" { fileinto "Org"; }
if address :all :contains "from" "coyote" { fileinto "Coyote"; }
