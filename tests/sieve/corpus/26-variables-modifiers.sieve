require ["fileinto", "variables"];
if header :matches "subject" "*" {
    set :lower "lc" "${1}";
    set :upperfirst :lower "cap" "${1}";
    set :length "len" "${1}";
    fileinto "${lc}";
    fileinto "${cap}";
    fileinto "len-${len}";
}
