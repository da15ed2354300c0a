stop "extra";
