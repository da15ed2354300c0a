require ["fileinto", "variables"];
if header :matches "subject" "[*] *" { fileinto "lists.${1}"; stop; }
if address :matches "from" "*@*" { fileinto "from.${2}.${1}"; }
