"""DNS-01 propagation checks for any DNS provider: provider-agnostic and vendorable.

Nothing in this package knows a particular DNS provider, Certbot or any other
part of the plugin around it: it only imports the standard library, dnspython
(2.0 or later) and its own modules, through relative imports, so another Certbot DNS plugin can copy the
directory unchanged.  Everything provider-specific (option names in messages,
advice on what to fix, which nameservers to ask) is passed in by the caller.

- ``dnslookup``: lookups through the system's recursive resolver (CNAME chains,
  NS sets, host addresses);
- ``nameservers``: which nameserver addresses to poll (a user's list or a zone's NS set);
- ``dnsquery``: one direct, non-recursive query to one authoritative server;
- ``authority``: which addresses of a zone really serve it, asked before records are created;
- ``propagation``: the wait until every authoritative address serves every value;
- ``wait_messages``: how the wait words its progress, warnings and timeout report;
- ``delegation``: a zone's NS set and DS records as its parent zone's servers publish them,
  compared with the zone's own NS set and DNSKEYs.
"""
