require ["fileinto", "variables"];
set "who" "${unknown}alice";
if string :is "${who}" "alice" { fileinto "Alice"; }
if address :localpart :matches "from" "*" {
    if string :contains "${1}" "e" { fileinto "HasE"; }
}
