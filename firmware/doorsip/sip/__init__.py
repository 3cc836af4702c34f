"""SIP core (sans-IO)."""
