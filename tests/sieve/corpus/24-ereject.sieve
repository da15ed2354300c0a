require "ereject";
if header :contains "x-spam-flag" "yes" { ereject "Spam refused."; }
