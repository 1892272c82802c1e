"""The exporter's TLS and basic auth, from a web config file in the format Prometheus
exporters take (prometheus/exporter-toolkit's web-configuration.md):

    tls_server_config:
      cert_file: server.crt        # relative paths are relative to the file
      key_file: server.key
      min_version: TLS12           # optional: TLS12 (default) or TLS13
    basic_auth_users:
      prometheus: $2y$10$...       # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\n')

The keys of that format kvmtune does not implement (client certificates, cipher lists,
http_server_config) are refused by name rather than ignored: a setting that silently does
nothing is a hole. A bad file is one WebConfigError line.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

_TLS_KEYS = {"cert_file", "key_file", "min_version"}
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# Checked against when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY = bcrypt.hashpw(b"kvmtune", bcrypt.gensalt(4))


class WebConfigError(Exception):
    pass


@dataclass
class WebConfig:
    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)
    # sha256 of "user:password" headers that passed: bcrypt costs ~0.1 s a check, a scrape
    # every 15 s should not pay it each time (exporter-toolkit caches the same way)
    _good: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def authorized(self, header: str | None) -> bool:
        """Whether an Authorization header passes (always, when no users are configured)."""
        if not self.users:
            return True
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        if not sep:
            return False
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with self._lock:
            if key in self._good:
                return True
        hashed = self.users.get(user)
        ok = bcrypt.checkpw(password.encode(), hashed if hashed is not None else _DUMMY)
        ok = ok and hashed is not None
        if ok:
            with self._lock:
                if len(self._good) > 256:
                    self._good.clear()
                self._good.add(key)
        return ok


def load(path: str) -> WebConfig:
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise WebConfigError(f"--web-config {path}: {e.strerror or e}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise WebConfigError(f"--web-config {path}: not YAML: {str(e).splitlines()[0]}") from None
    if doc is None:
        return WebConfig()
    if not isinstance(doc, dict):
        raise WebConfigError(f"--web-config {path}: expected a mapping of tls_server_config, basic_auth_users")
    unknown = sorted(set(doc) - {"tls_server_config", "basic_auth_users"})
    if unknown:
        raise WebConfigError(f"--web-config {path}: {', '.join(map(str, unknown))}: not supported by kvmtune "
                             "(it takes tls_server_config and basic_auth_users)")
    tls = _tls(p, doc.get("tls_server_config"))
    return WebConfig(tls=tls, users=_users(path, doc.get("basic_auth_users")))


def _tls(path: Path, conf: Any) -> ssl.SSLContext | None:
    if conf is None:
        return None
    where = f"--web-config {path}: tls_server_config"
    if not isinstance(conf, dict):
        raise WebConfigError(f"{where}: expected cert_file and key_file")
    unknown = sorted(set(conf) - _TLS_KEYS)
    if unknown:
        raise WebConfigError(f"{where}: {', '.join(map(str, unknown))}: not supported by kvmtune "
                             f"(it takes {', '.join(sorted(_TLS_KEYS))})")
    if not conf.get("cert_file") or not conf.get("key_file"):
        raise WebConfigError(f"{where}: needs both cert_file and key_file")
    for name in ("cert_file", "key_file"):
        if not isinstance(conf[name], str):
            raise WebConfigError(f"{where}: {name}: expected a file name, not {conf[name]!r}")
    version = conf.get("min_version", "TLS12")
    if not isinstance(version, str) or version not in _VERSIONS:   # the type first: [1] is unhashable
        raise WebConfigError(f"{where}: min_version {version!r}: TLS12 or TLS13")
    cert, key = (path.parent / str(conf["cert_file"]), path.parent / str(conf["key_file"]))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[version]
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as e:   # (an OSError too: first)
        why = f" ({e.reason})" if e.reason else ""
        raise WebConfigError(f"{where}: {cert} / {key}: not a certificate and its key{why}") from None
    except OSError as e:
        raise WebConfigError(f"{where}: {e.filename or cert}: {e.strerror or e}") from None
    return ctx


def _users(path: str, conf: Any) -> dict[str, bytes]:
    if conf is None:
        return {}
    where = f"--web-config {path}: basic_auth_users"
    if not isinstance(conf, dict):
        raise WebConfigError(f"{where}: expected user: bcrypt-hash lines")
    out = {}
    for user, hashed in conf.items():
        if not isinstance(user, str) or not isinstance(hashed, str):
            raise WebConfigError(f"{where}: {user!r}: expected a user name and its bcrypt hash")
        h = hashed.encode()
        try:
            bcrypt.checkpw(b"", h)   # raises on anything that is not a bcrypt hash
        except ValueError:
            raise WebConfigError(f"{where}: {user}: not a bcrypt hash (make one with "
                                 "`htpasswd -nBC 10 \"\" | tr -d ':\\n'`)") from None
        if ":" in user:
            raise WebConfigError(f"{where}: {user!r}: a user name cannot hold ':'")
        out[user] = h
    return out
