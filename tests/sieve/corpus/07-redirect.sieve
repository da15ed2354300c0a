if address :is "from" "alice@example.com" {
    redirect "bob@elsewhere.example";
}
