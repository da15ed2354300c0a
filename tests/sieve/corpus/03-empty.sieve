# Nothing but a comment: the implicit keep files the message.
/* and a bracket comment */
