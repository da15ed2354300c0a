require "include";
include "../escape";
