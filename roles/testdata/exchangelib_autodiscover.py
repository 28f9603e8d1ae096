"""Finds EWS with exchangelib's own Autodiscover, as a script does when it
is given nothing but an address and a password.

Run by roles/ews_exchangelib_test.go (TestAutodiscoverWithExchangelib). Environment: AD_HOSTS
(name=address,...: the only names this process may resolve; any other
fails here, so nothing leaves the lab), AD_PORT (where the lab's 443
listens), AD_USER, AD_PASSWORD, AD_ADDRESS (the caller's mailbox),
AD_OTHER (another user's mailbox, found with the caller's credentials),
AD_DNS (the lab DNS server, address:port),
REQUESTS_CA_BUNDLE (the lab CA). Prints one JSON object.
"""
import json
import os
import socket

hosts = dict(kv.split("=", 1) for kv in os.environ["AD_HOSTS"].split(",") if kv)
port443 = int(os.environ["AD_PORT"])
_getaddrinfo = socket.getaddrinfo


def getaddrinfo(host, port, *args, **kwargs):
    if host not in hosts:
        raise socket.gaierror(socket.EAI_NONAME, "not a lab name: %s" % host)
    if port in (443, "443", "https"):
        port = port443
    return _getaddrinfo(hosts[host], port, *args, **kwargs)


socket.getaddrinfo = getaddrinfo

if os.environ.get("AD_DEBUG"):
    import logging

    logging.basicConfig(level=logging.DEBUG)

from exchangelib import DELEGATE, Account, Credentials  # noqa: E402
from exchangelib.autodiscover.discovery.base import BaseAutodiscovery  # noqa: E402

# exchangelib resolves the autodiscover names and the SRV record itself,
# with dnspython: it asks the lab's DNS server instead of the system's.
dns_host, dns_port = os.environ["AD_DNS"].rsplit(":", 1)
BaseAutodiscovery.DNS_RESOLVER_KWARGS = {"configure": False}
BaseAutodiscovery.DNS_RESOLVER_ATTRS = dict(BaseAutodiscovery.DNS_RESOLVER_ATTRS, nameservers=[dns_host], port=int(dns_port))

creds = Credentials(os.environ["AD_USER"], os.environ["AD_PASSWORD"])
me = Account(os.environ["AD_ADDRESS"], credentials=creds, autodiscover=True, access_type=DELEGATE)
other = Account(os.environ["AD_OTHER"], credentials=creds, autodiscover=True, access_type=DELEGATE)
print(json.dumps({
    "ews_url": me.protocol.service_endpoint,
    "inbox": me.inbox.name,
    "other_address": other.primary_smtp_address,
    "other_ews_url": other.protocol.service_endpoint,
}))
