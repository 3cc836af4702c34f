"""SIPError: a malformed or unacceptable message, carrying the status to answer with."""


class SIPError(Exception):
    """.status is the SIP status code to answer with (400 unless another fits), .reason its text."""

    def __init__(self, status=400, reason="Bad Request"):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self):
        return "%d %s" % (self.status, self.reason)


def bad_request(what):
    """SIPError(400) whose reason names what was malformed."""
    return SIPError(400, "Bad Request (" + what + ")")
