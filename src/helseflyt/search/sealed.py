"""Sealed paging links for ``POST [type]/_search``.

A POST search keeps its parameters out of URLs (fødselsnummer must never travel in a
URL, where proxies and logs keep it). Its ``self``/``next``/``previous`` links therefore
carry one opaque, encrypted and authenticated token, ``[type]?_page=TOKEN``, instead of
the parameters. Following such a link with GET unseals the token and runs the same
search. A token is bound to who asked (issuer, subject, client, role, scopes): another
principal cannot replay it. The key lives in the server's memory, one for all its
worker processes (``serve --workers``: the parent makes it, see
:mod:`helseflyt.http.workers`): tokens expire after ``TTL`` seconds and when the server
restarts (the client then repeats its POST).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from cryptography.fernet import Fernet, InvalidToken

from helseflyt.errors import InvalidRequest

PAGE_PARAM = "_page"
TTL = 3600
OWNER = "_owner"


class PageSealer:
    def __init__(self, key: bytes | None = None) -> None:
        self._fernet = Fernet(key or Fernet.generate_key())

    def seal(self, pairs: list[tuple[str, str]], owner: str = "") -> str:
        return self._fernet.encrypt(urlencode([(OWNER, owner), *pairs]).encode()).decode()

    def unseal(self, token: str, owner: str = "") -> list[tuple[str, str]]:
        try:
            text = self._fernet.decrypt(token.encode(), ttl=TTL).decode()
            pairs = parse_qsl(text, keep_blank_values=True)
            if not pairs or pairs[0] != (OWNER, owner):
                raise ValueError("the token belongs to another principal")
        except (InvalidToken, ValueError) as exc:
            raise InvalidRequest(
                f"{PAGE_PARAM}: unknown or expired page token (links of a POST search live "
                f"{TTL // 60} minutes and end when the server restarts); repeat the search"
            ) from exc
        return pairs[1:]


def owner_of(principal: object | None) -> str:
    """Who a page token belongs to: '' in open development mode."""
    if principal is None:
        return ""
    fields = ("issuer", "subject", "client_id", "role", "pid", "hpr", "scope_text")
    return repr(tuple(getattr(principal, f, None) for f in fields))
