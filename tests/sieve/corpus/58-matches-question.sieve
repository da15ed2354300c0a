require ["fileinto", "variables"];
if header :matches "message-id" "<????-?@*>" { fileinto "Short-${5}"; }
if header :matches "x-priority" "?" { fileinto "OneChar"; }
