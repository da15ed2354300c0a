require ["fileinto", "variables", "mailbox"];
if header :matches "list-id" "*<*.*>" {
    fileinto :create "Lists/${2}";
} elsif header :is "precedence" ["bulk", "list"] {
    fileinto "Lists";
}
