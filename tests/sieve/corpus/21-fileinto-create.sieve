require ["fileinto", "mailbox"];
fileinto :create "Projects/ACME";
