# 50 rules as a user's client generates them (bin/bench-smtp --sieve): folders by list,
# project, sender and subject; none matches the benchmark's mail, so every message is kept.
require ["fileinto", "imap4flags", "envelope", "body", "variables", "mailbox"];

if header :contains "List-Id" "list01.lists.example.net" { fileinto :create "Lists/list01"; stop; }
if header :contains "List-Id" "list02.lists.example.net" { fileinto :create "Lists/list02"; stop; }
if header :contains "List-Id" "list03.lists.example.net" { fileinto :create "Lists/list03"; stop; }
if header :contains "List-Id" "list04.lists.example.net" { fileinto :create "Lists/list04"; stop; }
if header :contains "List-Id" "list05.lists.example.net" { fileinto :create "Lists/list05"; stop; }
if header :contains "List-Id" "list06.lists.example.net" { fileinto :create "Lists/list06"; stop; }
if header :contains "List-Id" "list07.lists.example.net" { fileinto :create "Lists/list07"; stop; }
if header :contains "List-Id" "list08.lists.example.net" { fileinto :create "Lists/list08"; stop; }
if header :contains "List-Id" "list09.lists.example.net" { fileinto :create "Lists/list09"; stop; }
if header :contains "List-Id" "list10.lists.example.net" { fileinto :create "Lists/list10"; stop; }
if header :contains "List-Id" "list11.lists.example.net" { fileinto :create "Lists/list11"; stop; }
if header :contains "List-Id" "list12.lists.example.net" { fileinto :create "Lists/list12"; stop; }
if address :domain :is "from" "partner01.example.org" { fileinto :create "Partners/p01"; stop; }
if address :domain :is "from" "partner02.example.org" { fileinto :create "Partners/p02"; stop; }
if address :domain :is "from" "partner03.example.org" { fileinto :create "Partners/p03"; stop; }
if address :domain :is "from" "partner04.example.org" { fileinto :create "Partners/p04"; stop; }
if address :domain :is "from" "partner05.example.org" { fileinto :create "Partners/p05"; stop; }
if address :domain :is "from" "partner06.example.org" { fileinto :create "Partners/p06"; stop; }
if address :domain :is "from" "partner07.example.org" { fileinto :create "Partners/p07"; stop; }
if address :domain :is "from" "partner08.example.org" { fileinto :create "Partners/p08"; stop; }
if address :domain :is "from" "partner09.example.org" { fileinto :create "Partners/p09"; stop; }
if address :domain :is "from" "partner10.example.org" { fileinto :create "Partners/p10"; stop; }
if address :domain :is "from" "partner11.example.org" { fileinto :create "Partners/p11"; stop; }
if address :domain :is "from" "partner12.example.org" { fileinto :create "Partners/p12"; stop; }
if header :matches "subject" "*[project-01]*" { addflag "\\Flagged"; fileinto :create "Projects/01"; stop; }
if header :matches "subject" "*[project-02]*" { addflag "\\Flagged"; fileinto :create "Projects/02"; stop; }
if header :matches "subject" "*[project-03]*" { addflag "\\Flagged"; fileinto :create "Projects/03"; stop; }
if header :matches "subject" "*[project-04]*" { addflag "\\Flagged"; fileinto :create "Projects/04"; stop; }
if header :matches "subject" "*[project-05]*" { addflag "\\Flagged"; fileinto :create "Projects/05"; stop; }
if header :matches "subject" "*[project-06]*" { addflag "\\Flagged"; fileinto :create "Projects/06"; stop; }
if header :matches "subject" "*[project-07]*" { addflag "\\Flagged"; fileinto :create "Projects/07"; stop; }
if header :matches "subject" "*[project-08]*" { addflag "\\Flagged"; fileinto :create "Projects/08"; stop; }
if header :matches "subject" "*[project-09]*" { addflag "\\Flagged"; fileinto :create "Projects/09"; stop; }
if header :matches "subject" "*[project-10]*" { addflag "\\Flagged"; fileinto :create "Projects/10"; stop; }
if header :matches "subject" "*[project-11]*" { addflag "\\Flagged"; fileinto :create "Projects/11"; stop; }
if header :matches "subject" "*[project-12]*" { addflag "\\Flagged"; fileinto :create "Projects/12"; stop; }
if envelope :localpart :is "to" "alias01" { fileinto :create "Aliases/01"; stop; }
if envelope :localpart :is "to" "alias02" { fileinto :create "Aliases/02"; stop; }
if envelope :localpart :is "to" "alias03" { fileinto :create "Aliases/03"; stop; }
if envelope :localpart :is "to" "alias04" { fileinto :create "Aliases/04"; stop; }
if envelope :localpart :is "to" "alias05" { fileinto :create "Aliases/05"; stop; }
if envelope :localpart :is "to" "alias06" { fileinto :create "Aliases/06"; stop; }
if envelope :localpart :is "to" "alias07" { fileinto :create "Aliases/07"; stop; }
if envelope :localpart :is "to" "alias08" { fileinto :create "Aliases/08"; stop; }
if allof (exists "X-Spam-Flag", header :is "X-Spam-Flag" "YES") { fileinto :create "Junk"; stop; }
if header :contains ["subject", "comments"] ["unsubscribe", "newsletter"] { fileinto :create "Newsletters"; stop; }
if body :contains "invoice number 4711-0815" { fileinto :create "Invoices"; stop; }
if header :matches "from" "*@billing.example.com" { set "who" "${1}"; fileinto :create "Bills"; stop; }
if size :over 20M { fileinto :create "Large"; stop; }
if not exists "date" { addflag "$NoDate"; }
