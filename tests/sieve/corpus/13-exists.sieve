require "fileinto";
if exists ["x-spam-flag", "x-spam-level"] { fileinto "Junk"; }
if not exists "message-id" { discard; }
