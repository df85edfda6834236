"""Packaging metadata for certbot-dns-netcup."""

import os

from setuptools import find_packages, setup

HERE = os.path.abspath(os.path.dirname(__file__))

with open(os.path.join(HERE, "README.md"), encoding="utf-8") as readme:
    LONG_DESCRIPTION = readme.read()

version = {}
with open(os.path.join(HERE, "certbot_dns_netcup", "_version.py"), encoding="utf-8") as f:
    exec(f.read(), version)  # noqa: S102 - our own one-line file; avoids importing the package

# Loose lower bounds on purpose: Certbot <= 2.6 checks these when it loads the
# plugin, and distributions ship old releases (Debian 11: dnspython 2.0,
# requests 2.25; Debian 12: dnspython 2.3, requests 2.28).  zope.interface is
# not listed: the Certbot 1.x releases that need it depend on it themselves.
INSTALL_REQUIRES = ["dnspython>=2.0.0", "requests>=2.25.0"]
# In a snap, Certbot and acme come from the certbot snap through its content
# interface; a second copy inside the plugin's snap would go unused.
if not os.environ.get("SNAP_BUILD"):
    INSTALL_REQUIRES += ["acme>=1.12.0", "certbot>=1.12.0"]

setup(
    name="certbot-dns-netcup",
    version=version["__version__"],
    description="netcup DNS Authenticator plugin for Certbot: waits for netcup's nameservers instead of sleeping",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(
        exclude=["tests", "tests.*", "benchmarks", "benchmarks.*", "netcup_sandbox", "netcup_sandbox.*"]
    ),
    include_package_data=True,
    package_data={"certbot_dns_netcup": ["py.typed"]},
    install_requires=INSTALL_REQUIRES,
    entry_points={
        "certbot.plugins": [
            "dns-netcup = certbot_dns_netcup._internal.authenticator:Authenticator",
        ],
        "console_scripts": [
            "certbot-dns-netcup = certbot_dns_netcup._internal.cli:main",
        ],
    },
    classifiers=[
        "Development Status :: 5 - Production/Stable",
        "Environment :: Plugins",
        "Intended Audience :: System Administrators",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Internet :: Name Service (DNS)",
        "Topic :: Security",
        "Topic :: System :: Systems Administration",
        "Topic :: Utilities",
    ],
)
