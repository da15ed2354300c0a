require "reject";
if header :contains "subject" "money" {
    reject text:
Your message was refused.
..
A line with a dot above.
.
;
}
