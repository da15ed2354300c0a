require "fileinto";
if allof (header :contains "subject" "version", not header :is "precedence" "bulk") {
    fileinto "Releases";
}
if anyof (header :contains "from" "winner", header :contains "subject" "won") {
    discard;
}
