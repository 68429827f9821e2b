"""Production mode (`SEKISHO_ENV=prod`): the development defaults a deployment must not run with.

Every settings class lists what it would refuse (`production_problems`); a model validator on ServiceSettings raises
ProductionRefused with all of them at once when the settings load in production, so that a service (`sekisho up
SERVICE`, uvicorn's factory) stops before it listens, and the operator fixes everything in one pass instead of one
restart per problem.

A check that needs a key only the running component holds (its identity key, auth's token key) applies when the
settings are those of a running component: SEKISHO_SERVICE names it (the supervisor and every Deployment set it).
`sekisho migrate` and the other one-off commands run without it, and without the keys they do not use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit

# The files `sekisho up` keeps its generated development keys in, under the data dir (sekisho/cli.py).
DEV_DATA_KEYS_FILE = "dev-data-keys"
DEV_BLIND_INDEX_KEY_FILE = "dev-blind-index-key"
DEV_AUTH_SIGNING_KEY_FILE = "dev-auth-signing-key.pem"
DEV_IDENTITY_KEYS_DIR = "dev-identity-keys"


class ProductionRefused(ValueError):
    """Production settings that keep development defaults; `problems` names each, one line apiece."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(
            f"SEKISHO_ENV=prod refuses to start with development defaults ({len(self.problems)} to fix):\n{lines}\n"
            'See README.md, "Production checklist".'
        )


def dev_key_files(data_dir: Path) -> dict[str, str]:
    """Every development key `sekisho up` made under `data_dir`: {file name: its value}."""
    root = Path(data_dir)
    paths = [root / DEV_DATA_KEYS_FILE, root / DEV_BLIND_INDEX_KEY_FILE, root / DEV_AUTH_SIGNING_KEY_FILE]
    identity_dir = root / DEV_IDENTITY_KEYS_DIR
    if identity_dir.is_dir():
        paths.extend(sorted(identity_dir.glob("*.pem")))
    found: dict[str, str] = {}
    for path in paths:
        try:
            found[str(path.relative_to(root))] = path.read_text().strip()
        except OSError:
            continue
    return found


def is_dev_key(value: str, data_dir: Path) -> bool:
    """True when `value` is one of the development keys kept under the data dir (copied into a deployment)."""
    value = value.strip()
    return bool(value) and value in dev_key_files(data_dir).values()


def is_loopback_host(host: str | None) -> bool:
    if host is None:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def not_https(urls: Iterable[str]) -> list[str]:
    """The URLs of `urls` that a browser or a partner would reach without TLS (or on this machine only)."""
    return [url for url in urls if urlsplit(url).scheme.lower() != "https" or is_loopback_host(urlsplit(url).hostname)]
