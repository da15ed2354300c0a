require ["imap4flags", "fileinto"];
setflag "\\Seen";
fileinto :flags ["\\Answered", "Work"] "Work";
fileinto "Other";
removeflag "\\Seen";
