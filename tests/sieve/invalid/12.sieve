"just a string";
