require ["fileinto", "body"];
if body :text :contains "<b>" { fileinto "Tag"; }
if body :text :contains "Zurich" { fileinto "Zurich"; }
if body :text :contains "secret" { fileinto "Secret"; }
if body :content "text" :contains "<b>" { fileinto "ContentTag"; }
if body :content "multipart" :contains "This is a MIME" { fileinto "Prologue"; }
if body :content "" :contains "secret plan" { fileinto "Any"; }
if body :raw :contains "--inner--" { fileinto "RawBoundary"; }
