require "fileinto";
if size :over 1K { fileinto "Large"; }
elsif size :under 500 { fileinto "Small"; }
