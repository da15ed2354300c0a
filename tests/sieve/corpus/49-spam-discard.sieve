if anyof (header :is "x-spam-flag" "yes", header :contains "x-spam-level" "*****") {
    discard;
    stop;
}
keep;
