"""The plugin's defaults and limits, each defined once (Certbot imports this at start-up: no imports here)."""

# netcup's nameservers pick up a change within about 10 minutes, in bad cases 20: the wait's default bound
# covers the slowest reload.
NETCUP_SLOWEST_RELOAD = 1200
DEFAULT_PROPAGATION_SECONDS = NETCUP_SLOWEST_RELOAD
MAX_PROPAGATION_SECONDS = 86400  # an ACME authorization does not wait for days; more is a typo
BOUND_OPTION = "--dns-netcup-propagation-seconds"

DEFAULT_LOGIN_RETRIES = 3
MAX_LOGIN_RETRIES = 20
