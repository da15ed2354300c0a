require ["body", "fileinto"];
if body :raw :contains "Caf=C3=A9" { fileinto "RawQP"; }
if body :raw :contains "c2VjcmV0" { fileinto "RawBase64"; }
