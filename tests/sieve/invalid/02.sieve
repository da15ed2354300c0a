require "nosuch-extension";
