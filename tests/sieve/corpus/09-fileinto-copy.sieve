require ["fileinto", "copy"];
fileinto :copy "Archive";
if size :over 100 { fileinto "Big"; }
