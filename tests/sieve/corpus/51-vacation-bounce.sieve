require ["vacation", "fileinto"];
if header :contains "auto-submitted" "auto" { fileinto "Auto"; }
vacation "Away.";
