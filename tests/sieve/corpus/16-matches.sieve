require "fileinto";
if header :matches "subject" "*on Fri??y*" { fileinto "Friday"; }
if header :matches "message-id" "<*@*.example>" { fileinto "Example"; }
if header :matches "subject" "\\[*\\]*" { fileinto "Bracketed"; }
