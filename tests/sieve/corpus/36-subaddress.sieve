require ["fileinto", "subaddress", "envelope", "variables"];
if envelope :detail :matches "to" "*" { fileinto "plus.${1}"; }
if address :user :is "cc" "dave" { fileinto "DaveUser"; }
if address :detail :is "cc" "work" { fileinto "DaveWork"; }
