require ["variables", "envelope", "subaddress"];
if envelope :detail "to" "lists" {
    set "target" "lists-archive@example.net";
    redirect "${target}";
}
