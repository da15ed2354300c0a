require ["include", "fileinto"];
include :personal "sort-lists";
include :optional "does-not-exist";
fileinto "AfterInclude";
