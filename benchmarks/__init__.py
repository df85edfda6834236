"""Benchmarks of certbot-dns-netcup against the netcup sandbox (run as ``python -m benchmarks.<name>``)."""
