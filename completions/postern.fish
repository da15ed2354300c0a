# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_postern_global_optspecs
    string join \n config= h/help V/version
end

function __fish_postern_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_postern_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_postern_using_subcommand
    set -l cmd (__fish_postern_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c postern -n "__fish_postern_needs_command" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c postern -n "__fish_postern_needs_command" -s V -l version -d 'Print version'
complete -c postern -n "__fish_postern_needs_command" -f -a "serve" -d 'Run every configured listener, the queue runner and the collection schedule in one process'
complete -c postern -n "__fish_postern_needs_command" -f -a "smtpd" -d 'The SMTP server (relay and submission listeners)'
complete -c postern -n "__fish_postern_needs_command" -f -a "popd" -d 'The POP3 server'
complete -c postern -n "__fish_postern_needs_command" -f -a "imapd" -d 'The IMAP4 server'
complete -c postern -n "__fish_postern_needs_command" -f -a "deliver" -d 'Deliver queued mail: once (for cron) or continuously'
complete -c postern -n "__fish_postern_needs_command" -f -a "collect" -d 'Collect mail from remote POP3 accounts into the local queue (one pass, for cron)'
complete -c postern -n "__fish_postern_needs_command" -f -a "queue" -d 'Inspect and manage the mail queue'
complete -c postern -n "__fish_postern_needs_command" -f -a "mbox" -d 'Mailboxes: usage and quotas'
complete -c postern -n "__fish_postern_needs_command" -f -a "user" -d 'Manage the users file'
complete -c postern -n "__fish_postern_needs_command" -f -a "cert" -d 'Certificates for TLS listeners'
complete -c postern -n "__fish_postern_needs_command" -f -a "config" -d 'Check the configuration file'
complete -c postern -n "__fish_postern_needs_command" -f -a "sendmail" -d 'Send a message from the command line (sendmail(1); also run as `sendmail`, `mailq`, `newaliases`)'
complete -c postern -n "__fish_postern_needs_command" -f -a "domain" -d 'Domains and their address handlers (lists and edits the configuration file)'
complete -c postern -n "__fish_postern_needs_command" -f -a "dkim" -d 'DKIM keys for signing outgoing mail'
complete -c postern -n "__fish_postern_needs_command" -f -a "dns" -d 'The DNS records a hosted domain needs, and whether they are published'
complete -c postern -n "__fish_postern_needs_command" -f -a "sieve" -d 'Users\' Sieve filters: list, store, fetch, activate, check'
complete -c postern -n "__fish_postern_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand serve" -l demo -d 'Create (or reuse) a self-contained demo setup under DIR and serve it on 127.0.0.1' -r -F
complete -c postern -n "__fish_postern_using_subcommand serve" -l port-offset -d 'Add N to every demo port (2525, 2587, 2465, 2110, 2995, 2143, 2993, ManageSieve 4190, gateway 2526)' -r
complete -c postern -n "__fish_postern_using_subcommand serve" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand serve" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand smtpd" -l listen -d 'Listen on ADDR (repeatable) instead of the configured listeners' -r
complete -c postern -n "__fish_postern_using_subcommand smtpd" -l listener -d 'Use the settings (TLS, trust, protocol) of the configured listener NAME' -r
complete -c postern -n "__fish_postern_using_subcommand smtpd" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand smtpd" -l inetd -d 'Serve one connection on stdin/stdout (inetd, systemd Accept=yes)'
complete -c postern -n "__fish_postern_using_subcommand smtpd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c postern -n "__fish_postern_using_subcommand popd" -l listen -d 'Listen on ADDR (repeatable) instead of the configured listeners' -r
complete -c postern -n "__fish_postern_using_subcommand popd" -l listener -d 'Use the settings (TLS, trust, protocol) of the configured listener NAME' -r
complete -c postern -n "__fish_postern_using_subcommand popd" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand popd" -l inetd -d 'Serve one connection on stdin/stdout (inetd, systemd Accept=yes)'
complete -c postern -n "__fish_postern_using_subcommand popd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c postern -n "__fish_postern_using_subcommand imapd" -l listen -d 'Listen on ADDR (repeatable) instead of the configured listeners' -r
complete -c postern -n "__fish_postern_using_subcommand imapd" -l listener -d 'Use the settings (TLS, trust, protocol) of the configured listener NAME' -r
complete -c postern -n "__fish_postern_using_subcommand imapd" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand imapd" -l inetd -d 'Serve one connection on stdin/stdout (inetd, systemd Accept=yes)'
complete -c postern -n "__fish_postern_using_subcommand imapd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c postern -n "__fish_postern_using_subcommand deliver" -l id -d 'Only these messages (ignores their next-try time)' -r
complete -c postern -n "__fish_postern_using_subcommand deliver" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand deliver" -l once -d 'Run the queue once and exit (the default)'
complete -c postern -n "__fish_postern_using_subcommand deliver" -l watch -d 'Keep running: scan the queue every delivery.scan_interval'
complete -c postern -n "__fish_postern_using_subcommand deliver" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand collect" -l account -d 'Only these accounts' -r
complete -c postern -n "__fish_postern_using_subcommand collect" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand collect" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -f -a "ls" -d 'List queued messages grouped by domain job'
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -f -a "show" -d 'Show one message: envelope, per-recipient status, headers (like postcat -q)'
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -f -a "abort" -d 'Remove messages from the queue'
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -f -a "flush" -d 'Attempt delivery now'
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -f -a "hold" -d 'Park messages: no delivery until released'
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -f -a "release" -d 'Release held messages'
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -f -a "tls-report" -d 'Mail the day\'s SMTP TLS reports (RFC 8460) to each MTA-STS domain\'s rua= (cron, daily)'
complete -c postern -n "__fish_postern_using_subcommand queue; and not __fish_seen_subcommand_from ls show abort flush hold release tls-report help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from ls" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from ls" -l json -d 'JSON Lines: one JSON object per message, one a line'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from show" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from show" -l json -d 'One JSON object'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from show" -l body -d 'The whole message, not only its header'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from abort" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from abort" -l bounce -d 'Send a delivery status notification to the sender'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from abort" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from flush" -l domain -d 'Only messages with recipients in domain D' -r
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from flush" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from flush" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from hold" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from hold" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from release" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from release" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from tls-report" -l day -d 'The UTC day to report, YYYY-MM-DD [default: yesterday]' -r
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from tls-report" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from tls-report" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List queued messages grouped by domain job'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show one message: envelope, per-recipient status, headers (like postcat -q)'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "abort" -d 'Remove messages from the queue'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "flush" -d 'Attempt delivery now'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "hold" -d 'Park messages: no delivery until released'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "release" -d 'Release held messages'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "tls-report" -d 'Mail the day\'s SMTP TLS reports (RFC 8460) to each MTA-STS domain\'s rua= (cron, daily)'
complete -c postern -n "__fish_postern_using_subcommand queue; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand mbox; and not __fish_seen_subcommand_from ls quota help" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand mbox; and not __fish_seen_subcommand_from ls quota help" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand mbox; and not __fish_seen_subcommand_from ls quota help" -f -a "ls" -d 'List mailboxes with their usage'
complete -c postern -n "__fish_postern_using_subcommand mbox; and not __fish_seen_subcommand_from ls quota help" -f -a "quota" -d 'Show or change a user\'s quota'
complete -c postern -n "__fish_postern_using_subcommand mbox; and not __fish_seen_subcommand_from ls quota help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from ls" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from ls" -l json
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from quota" -l set -d 'New limit, e.g. 500M' -r
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from quota" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from quota" -l clear -d 'Remove the limit'
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from quota" -l json
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from quota" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List mailboxes with their usage'
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from help" -f -a "quota" -d 'Show or change a user\'s quota'
complete -c postern -n "__fish_postern_using_subcommand mbox; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand user; and not __fish_seen_subcommand_from add passwd del ls help" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand user; and not __fish_seen_subcommand_from add passwd del ls help" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand user; and not __fish_seen_subcommand_from add passwd del ls help" -f -a "add" -d 'Add a user (asks for the password on the terminal unless --password-stdin)'
complete -c postern -n "__fish_postern_using_subcommand user; and not __fish_seen_subcommand_from add passwd del ls help" -f -a "passwd" -d 'Change a user\'s password'
complete -c postern -n "__fish_postern_using_subcommand user; and not __fish_seen_subcommand_from add passwd del ls help" -f -a "del" -d 'Remove a user (the maildir is kept)'
complete -c postern -n "__fish_postern_using_subcommand user; and not __fish_seen_subcommand_from add passwd del ls help" -f -a "ls" -d 'List users'
complete -c postern -n "__fish_postern_using_subcommand user; and not __fish_seen_subcommand_from add passwd del ls help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from add" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from add" -l password-stdin -d 'Read the password from the first line of standard input'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from add" -l shared-secret -d 'Also store a shared secret (the password) for CRAM-MD5 and APOP'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from add" -l ntlm -d 'Also store the NT hash of the password for SASL NTLM (password-equivalent!)'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from add" -l system -d 'A system user\'s entry: no login password (PAM checks it), only postern\'s extras'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from passwd" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from passwd" -l password-stdin
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from passwd" -l shared-secret -d 'Also store a shared secret (the password) for CRAM-MD5 and APOP'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from passwd" -l ntlm -d 'Also store the NT hash of the password for SASL NTLM (password-equivalent!)'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from passwd" -l pop3 -d 'Set the POP3 override password instead of the login password'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from passwd" -l system -d 'A system user: store only the shared secret and/or NT hash of this password (the login password stays PAM\'s)'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from del" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from del" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from ls" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from ls" -l json
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a user (asks for the password on the terminal unless --password-stdin)'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Change a user\'s password'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "del" -d 'Remove a user (the maildir is kept)'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List users'
complete -c postern -n "__fish_postern_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand cert; and not __fish_seen_subcommand_from gen acme help" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand cert; and not __fish_seen_subcommand_from gen acme help" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand cert; and not __fish_seen_subcommand_from gen acme help" -f -a "gen" -d 'Make a self-signed certificate and key (PEM); prints the SHA-256 fingerprint'
complete -c postern -n "__fish_postern_using_subcommand cert; and not __fish_seen_subcommand_from gen acme help" -f -a "acme" -d 'Obtain or renew the [acme] certificate from the ACME CA when it is due (cron, or serve\'s schedule)'
complete -c postern -n "__fish_postern_using_subcommand cert; and not __fish_seen_subcommand_from gen acme help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from gen" -l cn -d 'Common name [default: the configured server host name]' -r
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from gen" -l san -d 'Subject alternative name (repeatable; wildcards like *.example.com allowed)' -r
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from gen" -l days -d 'Validity in days' -r
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from gen" -l cert -r -F
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from gen" -l key -r -F
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from gen" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from gen" -l force -d 'Replace an existing certificate and key'
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from gen" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from acme" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from acme" -l renew -d 'Print nothing when no renewal is due, or without [acme] (for cron)'
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from acme" -l force -d 'Obtain a new certificate even when the served one is good'
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from acme" -l revoke -d 'Revoke the served certificate at the CA, then obtain a new one'
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from acme" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from help" -f -a "gen" -d 'Make a self-signed certificate and key (PEM); prints the SHA-256 fingerprint'
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from help" -f -a "acme" -d 'Obtain or renew the [acme] certificate from the ACME CA when it is due (cron, or serve\'s schedule)'
complete -c postern -n "__fish_postern_using_subcommand cert; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand config; and not __fish_seen_subcommand_from check show help" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand config; and not __fish_seen_subcommand_from check show help" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand config; and not __fish_seen_subcommand_from check show help" -f -a "check" -d 'Report every problem in the configuration with its line; exit 78 if there are any'
complete -c postern -n "__fish_postern_using_subcommand config; and not __fish_seen_subcommand_from check show help" -f -a "show" -d 'Print the effective configuration, defaults included (passwords masked), as TOML'
complete -c postern -n "__fish_postern_using_subcommand config; and not __fish_seen_subcommand_from check show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand config; and __fish_seen_subcommand_from show" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand config; and __fish_seen_subcommand_from show" -l non-default -d 'Only the settings that differ from their defaults (like `postconf -n`, `doveconf -n`)'
complete -c postern -n "__fish_postern_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Report every problem in the configuration with its line; exit 78 if there are any'
complete -c postern -n "__fish_postern_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print the effective configuration, defaults included (passwords masked), as TOML'
complete -c postern -n "__fish_postern_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand sendmail" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand domain; and not __fish_seen_subcommand_from ls handlers help" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand domain; and not __fish_seen_subcommand_from ls handlers help" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand domain; and not __fish_seen_subcommand_from ls handlers help" -f -a "ls" -d 'List the domains with their settings and handlers'
complete -c postern -n "__fish_postern_using_subcommand domain; and not __fish_seen_subcommand_from ls handlers help" -f -a "handlers" -d 'Add or remove a domain\'s address handlers'
complete -c postern -n "__fish_postern_using_subcommand domain; and not __fish_seen_subcommand_from ls handlers help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from ls" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from ls" -l json
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from handlers" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from handlers" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from handlers" -f -a "add-all" -d 'Add all local mailboxes: a handler to its own mailbox for every user that has none yet'
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from handlers" -f -a "add" -d 'Add a handler for LOCAL@DOMAIN'
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from handlers" -f -a "del" -d 'Remove the handler for LOCAL@DOMAIN'
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from handlers" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List the domains with their settings and handlers'
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from help" -f -a "handlers" -d 'Add or remove a domain\'s address handlers'
complete -c postern -n "__fish_postern_using_subcommand domain; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand dkim; and not __fish_seen_subcommand_from keygen help" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand dkim; and not __fish_seen_subcommand_from keygen help" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand dkim; and not __fish_seen_subcommand_from keygen help" -f -a "keygen" -d 'Make a signing key (mode 0600) and print the TXT record to publish'
complete -c postern -n "__fish_postern_using_subcommand dkim; and not __fish_seen_subcommand_from keygen help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand dkim; and __fish_seen_subcommand_from keygen" -l selector -d 'The selector [default: the date and the algorithm, e.g. 20261204r]' -r
complete -c postern -n "__fish_postern_using_subcommand dkim; and __fish_seen_subcommand_from keygen" -l algorithm -r -f -a "rsa2048\t'RSA, 2048 bits (rsa-sha256: what every verifier knows)'
ed25519\t'Ed25519 (ed25519-sha256, RFC 8463: sign with an RSA key too)'"
complete -c postern -n "__fish_postern_using_subcommand dkim; and __fish_seen_subcommand_from keygen" -l key -d 'Where to write the key [default: dkim/DOMAIN.SELECTOR.key next to the config file]' -r -F
complete -c postern -n "__fish_postern_using_subcommand dkim; and __fish_seen_subcommand_from keygen" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand dkim; and __fish_seen_subcommand_from keygen" -l force -d 'Replace an existing key file'
complete -c postern -n "__fish_postern_using_subcommand dkim; and __fish_seen_subcommand_from keygen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c postern -n "__fish_postern_using_subcommand dkim; and __fish_seen_subcommand_from help" -f -a "keygen" -d 'Make a signing key (mode 0600) and print the TXT record to publish'
complete -c postern -n "__fish_postern_using_subcommand dkim; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand dns; and not __fish_seen_subcommand_from records check help" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand dns; and not __fish_seen_subcommand_from records check help" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand dns; and not __fish_seen_subcommand_from records check help" -f -a "records" -d 'Print every record to publish for DOMAIN, in zone-file syntax'
complete -c postern -n "__fish_postern_using_subcommand dns; and not __fish_seen_subcommand_from records check help" -f -a "check" -d 'Look the records up through [dns] and say which are missing or different'
complete -c postern -n "__fish_postern_using_subcommand dns; and not __fish_seen_subcommand_from records check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand dns; and __fish_seen_subcommand_from records" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand dns; and __fish_seen_subcommand_from records" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand dns; and __fish_seen_subcommand_from check" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand dns; and __fish_seen_subcommand_from check" -l json
complete -c postern -n "__fish_postern_using_subcommand dns; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand dns; and __fish_seen_subcommand_from help" -f -a "records" -d 'Print every record to publish for DOMAIN, in zone-file syntax'
complete -c postern -n "__fish_postern_using_subcommand dns; and __fish_seen_subcommand_from help" -f -a "check" -d 'Look the records up through [dns] and say which are missing or different'
complete -c postern -n "__fish_postern_using_subcommand dns; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -f -a "ls" -d 'List USER\'s scripts (the active one marked with `*`)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -f -a "put" -d 'Check FILE (`-`: standard input) and store it as USER\'s script NAME'
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -f -a "get" -d 'Print USER\'s script NAME'
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -f -a "activate" -d 'Make NAME the script run for USER\'s mail (with --none: no script)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -f -a "deactivate" -d 'No script runs for USER\'s mail (the scripts are kept)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -f -a "rm" -d 'Delete USER\'s script NAME (not the active one)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -f -a "check" -d 'Check that FILE (`-`: standard input) compiles; errors name the line'
complete -c postern -n "__fish_postern_using_subcommand sieve; and not __fish_seen_subcommand_from ls put get activate deactivate rm check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from ls" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from put" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from put" -l activate -d 'Also make it the active script'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from put" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from get" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from activate" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from activate" -l none -d 'Deactivate: no script runs for USER\'s mail'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from activate" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from deactivate" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from deactivate" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from rm" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from check" -l config -d 'Configuration file [default: /etc/postern/postern.toml]' -r -F
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List USER\'s scripts (the active one marked with `*`)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from help" -f -a "put" -d 'Check FILE (`-`: standard input) and store it as USER\'s script NAME'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from help" -f -a "get" -d 'Print USER\'s script NAME'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from help" -f -a "activate" -d 'Make NAME the script run for USER\'s mail (with --none: no script)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from help" -f -a "deactivate" -d 'No script runs for USER\'s mail (the scripts are kept)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Delete USER\'s script NAME (not the active one)'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check that FILE (`-`: standard input) compiles; errors name the line'
complete -c postern -n "__fish_postern_using_subcommand sieve; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "serve" -d 'Run every configured listener, the queue runner and the collection schedule in one process'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "smtpd" -d 'The SMTP server (relay and submission listeners)'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "popd" -d 'The POP3 server'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "imapd" -d 'The IMAP4 server'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "deliver" -d 'Deliver queued mail: once (for cron) or continuously'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "collect" -d 'Collect mail from remote POP3 accounts into the local queue (one pass, for cron)'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "queue" -d 'Inspect and manage the mail queue'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "mbox" -d 'Mailboxes: usage and quotas'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "user" -d 'Manage the users file'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "cert" -d 'Certificates for TLS listeners'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "config" -d 'Check the configuration file'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "sendmail" -d 'Send a message from the command line (sendmail(1); also run as `sendmail`, `mailq`, `newaliases`)'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "domain" -d 'Domains and their address handlers (lists and edits the configuration file)'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "dkim" -d 'DKIM keys for signing outgoing mail'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "dns" -d 'The DNS records a hosted domain needs, and whether they are published'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "sieve" -d 'Users\' Sieve filters: list, store, fetch, activate, check'
complete -c postern -n "__fish_postern_using_subcommand help; and not __fish_seen_subcommand_from serve smtpd popd imapd deliver collect queue mbox user cert config sendmail domain dkim dns sieve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "ls" -d 'List queued messages grouped by domain job'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "show" -d 'Show one message: envelope, per-recipient status, headers (like postcat -q)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "abort" -d 'Remove messages from the queue'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "flush" -d 'Attempt delivery now'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "hold" -d 'Park messages: no delivery until released'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "release" -d 'Release held messages'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from queue" -f -a "tls-report" -d 'Mail the day\'s SMTP TLS reports (RFC 8460) to each MTA-STS domain\'s rua= (cron, daily)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from mbox" -f -a "ls" -d 'List mailboxes with their usage'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from mbox" -f -a "quota" -d 'Show or change a user\'s quota'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "add" -d 'Add a user (asks for the password on the terminal unless --password-stdin)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "passwd" -d 'Change a user\'s password'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "del" -d 'Remove a user (the maildir is kept)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "ls" -d 'List users'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from cert" -f -a "gen" -d 'Make a self-signed certificate and key (PEM); prints the SHA-256 fingerprint'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from cert" -f -a "acme" -d 'Obtain or renew the [acme] certificate from the ACME CA when it is due (cron, or serve\'s schedule)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Report every problem in the configuration with its line; exit 78 if there are any'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Print the effective configuration, defaults included (passwords masked), as TOML'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from domain" -f -a "ls" -d 'List the domains with their settings and handlers'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from domain" -f -a "handlers" -d 'Add or remove a domain\'s address handlers'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from dkim" -f -a "keygen" -d 'Make a signing key (mode 0600) and print the TXT record to publish'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from dns" -f -a "records" -d 'Print every record to publish for DOMAIN, in zone-file syntax'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from dns" -f -a "check" -d 'Look the records up through [dns] and say which are missing or different'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from sieve" -f -a "ls" -d 'List USER\'s scripts (the active one marked with `*`)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from sieve" -f -a "put" -d 'Check FILE (`-`: standard input) and store it as USER\'s script NAME'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from sieve" -f -a "get" -d 'Print USER\'s script NAME'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from sieve" -f -a "activate" -d 'Make NAME the script run for USER\'s mail (with --none: no script)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from sieve" -f -a "deactivate" -d 'No script runs for USER\'s mail (the scripts are kept)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from sieve" -f -a "rm" -d 'Delete USER\'s script NAME (not the active one)'
complete -c postern -n "__fish_postern_using_subcommand help; and __fish_seen_subcommand_from sieve" -f -a "check" -d 'Check that FILE (`-`: standard input) compiles; errors name the line'
