if address :is ["from", "sender"] ["alice@example.com", "renee@example.fr"] {
    discard;
}
