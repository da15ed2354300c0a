require "fileinto";
if header :contains "subject" "money" {
    fileinto "Junk";
} elsif exists "list-id" {
    fileinto "Lists";
} elsif address :domain :is "from" "example.fr" {
    fileinto "France";
} else {
    keep;
}
