require ["include", "variables", "fileinto"];
global "folder";
set "folder" "Shared";
include :global "file-to-folder";
include :once :global "file-to-folder";
