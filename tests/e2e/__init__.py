"""End-to-end harness: a local Pebble ACME server and real Certbot runs against it."""
