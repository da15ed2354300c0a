require ["fileinto", "mailbox"];
if mailboxexists "Nonexistent-Folder" { fileinto "Nonexistent-Folder"; } else { fileinto "Fallback"; }
