"""The client's address behind the proxies named in KB_TRUSTED_PROXIES.

Behind nginx every request comes from 127.0.0.1; the client's address is in X-Forwarded-For,
which anyone can also send. So the header is read only when the request comes from a trusted
proxy, and from the right: each proxy appends the address it received the request from, so
the rightmost address that is not itself a trusted proxy is the client, and whatever the
client wrote to the left of it is ignored. This is Werkzeug's ProxyFix with the hop count
replaced by the same list of trusted networks that X-Request-ID is taken from.
"""

import ipaddress

from kb.ops.observability import address_in, parse_networks

PEER_KEY = "kb.peer_addr"  # the environ key keeping the address the connection came from


def init_app(app):
    """Make request.remote_addr the client's address; the peer's stays in environ[PEER_KEY]."""
    networks = parse_networks(app.config["TRUSTED_PROXIES"])
    app.extensions["kb_trusted_proxies"] = networks
    app.wsgi_app = TrustedProxies(app.wsgi_app, networks)


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR becomes the client named by trusted proxies."""

    def __init__(self, wsgi_app, networks):
        self.wsgi_app = wsgi_app
        self.networks = networks

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR")
        environ[PEER_KEY] = peer
        if address_in(peer, self.networks):
            client = client_address(environ.get("HTTP_X_FORWARDED_FOR", ""), self.networks)
            if client is not None:
                environ["REMOTE_ADDR"] = client
        return self.wsgi_app(environ, start_response)


def client_address(forwarded_for, networks):
    """The rightmost address in an X-Forwarded-For value that is not a trusted proxy.

    None when the header is empty or the entry in the client's place is not an address
    (then the peer is all we know). When every entry is a trusted proxy, the leftmost.
    """
    entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
    for entry in reversed(entries):
        try:
            address = str(ipaddress.ip_address(entry))
        except ValueError:
            return None
        if not address_in(address, networks):
            return address
    return str(ipaddress.ip_address(entries[0])) if entries else None


def rate_limit_key(address):
    """The address a sign-in failure is counted against: an IPv6 client's whole /64.

    One IPv6 client usually holds a /64, so counting single addresses would give it 2**64
    tries; an IPv4 address counts alone.
    """
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is an IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
