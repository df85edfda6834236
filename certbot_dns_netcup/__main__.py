"""``python -m certbot_dns_netcup``: the same as the ``certbot-dns-netcup`` command."""

import sys

from certbot_dns_netcup._internal.cli import main

sys.exit(main())
