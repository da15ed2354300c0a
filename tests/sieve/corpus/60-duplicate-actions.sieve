require "fileinto";
redirect "a@example.org";
redirect "a@example.org";
fileinto "X";
fileinto "X";
keep;
fileinto "INBOX";
