require ["body", "fileinto"];
if body :contains "money" { fileinto "Money"; }
if body :text :contains "lunch" { fileinto "Lunch"; }
if body :contains "Café" { fileinto "Cafe"; }
