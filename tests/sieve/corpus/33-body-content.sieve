require ["body", "fileinto"];
if body :content "text/plain" :contains "mardi" { fileinto "Plain"; }
if body :content "application/pdf" :contains "secret plan" { fileinto "Pdf"; }
