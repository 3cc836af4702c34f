"""SIP core (sans-IO). `from doorsip.sip import parse, SIPError` (see message.py, uri.py)."""
from doorsip.sip.errors import SIPError
from doorsip.sip.message import Message, build_request, build_response, parse, reason_phrase
from doorsip.sip.uri import (NameAddr, Uri, Via, new_branch, new_call_id, new_tag,
                             parse_name_addr, parse_uri, parse_via, unescape)
