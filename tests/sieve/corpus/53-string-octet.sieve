require ["fileinto", "variables"];
if address :localpart :matches "from" "*" {
    if string :comparator "i;octet" :contains "${1}" "E" { fileinto "UpperE"; }
    if string :comparator "i;ascii-casemap" :is "${1}" "ALICE" { fileinto "AliceAnyCase"; }
}
