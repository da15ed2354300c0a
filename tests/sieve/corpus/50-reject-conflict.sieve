require ["reject", "fileinto"];
fileinto "Saved";
reject "Refused.";
