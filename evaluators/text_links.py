"""Web links in the output: `contains_link` and `valid_links`.

Finding and validating URLs is offline; `valid_links` with `check_reachable: true` is the one
text check that calls the network (HEAD/GET, private addresses refused), which is why it
lives apart from the string checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from assay.evaluators.base import Subject
from assay.evaluators.evidence import DetailedEvaluator, Finding
from assay.evaluators.text import MAX_SEARCH_CHARS, _short

_URL_CANDIDATE = re.compile(
    r"(?<![\w@.])(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)[^\s<>\"'`]+", re.IGNORECASE
)
_TRAILING = ".,;:!?*_'\"”’»"
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


def find_urls(text: str) -> list[tuple[int, str]]:
    """(char offset, URL) for each link-like run in a text: `scheme://...` (any scheme, so a
    `htps://` typo is found and judged) and bare `www.` hosts. Trailing sentence punctuation
    and unbalanced closing brackets (a Markdown `[text](url)`) are not part of the URL."""
    found = []
    for match in _URL_CANDIDATE.finditer(text[:MAX_SEARCH_CHARS]):
        url = match.group(0)
        while url:
            last = url[-1]
            if last in _TRAILING:
                url = url[:-1]
            elif last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
                url = url[:-1]
            else:
                break
        if url:
            found.append((match.start(), url))
    return found


def url_problem(url: str) -> str | None:
    """Why a URL is not a syntactically valid http(s) URL, or None when it is."""
    from urllib.parse import urlsplit

    candidate = f"http://{url}" if url.lower().startswith("www.") else url
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as exc:
        return f"unparseable ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"scheme {parts.scheme!r} is not http(s)"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "no host"
    if port == 0:
        return "port 0"
    if any(ord(c) < 32 or c == "\\" for c in candidate):
        return "control character or backslash"
    if host == "localhost":
        return None
    try:
        import ipaddress

        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if parts.netloc.startswith("[") or re.fullmatch(r"[\d.]+", host):
        return f"invalid IP address {host!r}"
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return f"invalid host {host!r}"
    labels = ascii_host.split(".")
    if len(labels) < 2:
        return f"host {host!r} has no top-level domain"
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return f"invalid host {host!r}"
    tld = labels[-1]
    if not (tld.isalpha() and len(tld) >= 2) and not tld.startswith("xn--"):
        return f"invalid top-level domain {tld!r}"
    return None


def host_of(url: str) -> str:
    from urllib.parse import urlsplit

    candidate = f"http://{url}" if url.lower().startswith("www.") else url
    return (urlsplit(candidate).hostname or "").rstrip(".").lower()


def host_allowed(host: str, allowed_domains: list[str]) -> bool:
    """`docs.example.com` is allowed by `example.com`; `badexample.com` is not."""
    return any(host == d or host.endswith("." + d) for d in allowed_domains)


@dataclass(kw_only=True)
class ContainsLink(DetailedEvaluator):
    """The output contains at least one web link (`http://`, `https://` or `www.`).

    Presence only; `valid_links` judges them. The value is 1.0 or 0.0; the explanation gives
    the count and the hosts.
    """

    example: ClassVar[dict[str, Any]] = {}
    failure_category: str | None = "format_break"
    metric: str = "contains_link"

    def inspect(self, subject: Subject) -> Finding:
        links = [
            (o, u) for o, u in find_urls(str(subject["output_text"]))
            if u.lower().startswith(("http://", "https://", "www."))
        ]  # fmt: skip
        if not links:
            return Finding(False, 0.0, "no link found")
        hosts = sorted({host_of(u) for _, u in links} - {""})
        return Finding(
            True,
            1.0,
            f"{len(links)} link(s) to {', '.join(hosts[:5]) or 'unparsed hosts'}",
            details={"links": [{"offset": o, "url": u} for o, u in links[:100]]},
        )


REACHABLE_STATUSES = frozenset({401, 403, 429})
"""Answers that prove the page exists though we may not read it (login wall, bot block,
rate limit): a fabricated URL gives 404 or no answer, not these."""


def private_address(host: str) -> str | None:
    """The first address `host` resolves to that is not public (loopback, private,
    link-local such as 169.254.169.254, reserved, multicast), or None."""
    import ipaddress
    import socket

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None  # unresolvable: the request itself reports it
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            return str(address)
    return None


class _PrivateHostRefused(Exception):
    pass


def check_reachable(url: str, timeout_s: float, *, allow_private_hosts: bool = False) -> str | None:
    """None when `url` answers a HEAD (or, if HEAD is refused, a GET) with a status below 400
    or in REACHABLE_STATUSES; otherwise why not. Redirects are followed.

    The URLs come from model output, which a prompt injection can steer: unless
    `allow_private_hosts`, a URL (or a redirect) to a non-public address is refused, so an
    evaluation run cannot be made to probe its own network (cloud metadata, admin ports).
    """
    import http.client
    import urllib.error
    import urllib.request

    def refuse_private(target: str) -> None:
        host = host_of(target)
        address = None if allow_private_hosts else private_address(host)
        if address is not None:
            raise _PrivateHostRefused(f"not checked: {host} is a non-public address ({address})")

    class GuardedRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
            refuse_private(newurl)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    target = f"http://{url}" if url.lower().startswith("www.") else url
    opener = urllib.request.build_opener(GuardedRedirects())
    headers = {"User-Agent": "assay-valid-links/1"}
    try:
        refuse_private(target)
        for method in ("HEAD", "GET"):
            request = urllib.request.Request(target, method=method, headers=headers)
            try:
                with opener.open(request, timeout=timeout_s) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            if method == "HEAD" and status in (405, 501):
                continue
            if status < 400 or status in REACHABLE_STATUSES:
                return None
            return f"HTTP {status}"
    except _PrivateHostRefused as exc:
        return str(exc)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, _PrivateHostRefused):
            return str(exc.reason)
        return f"unreachable ({type(exc.reason).__name__}: {exc.reason})"[:160]
    except (TimeoutError, OSError, ValueError, http.client.HTTPException) as exc:
        return f"unreachable ({type(exc).__name__}: {exc})"[:160]
    return None


@dataclass(kw_only=True)
class ValidLinks(DetailedEvaluator):
    """Every link in the output is a syntactically valid http(s) URL, on an allowed domain
    when `allowed_domains` is set, and reachable when `check_reachable` is true.

    Links are `scheme://...` runs (any scheme, so `htps://` or `ftp://` fail) and bare `www.`
    hosts. A valid host is a dotted domain with an alphabetic TLD, an IP address or
    localhost. `allowed_domains` includes subdomains (`example.com` allows
    `docs.example.com`). `check_reachable` (default false: no network) sends an HTTP HEAD to
    each distinct link (GET if HEAD is refused) with `timeout_s`, at most `max_links` per
    output; results are cached per instance. Links to non-public addresses (loopback,
    private ranges, cloud metadata), directly or by redirect, are refused unless
    `allow_private_hosts: true`: the URLs come from model output, which an injected prompt
    can steer. The value is the share of links that pass (1.0
    with no links); a syntax-only failure is `format_break`, a disallowed or dead link
    `hallucination` (invented URLs are the usual cause).
    """

    output: ClassVar[str] = "pass/fail + share of good links 0-1"
    example: ClassVar[dict[str, Any]] = {"allowed_domains": ["example.com"]}
    allowed_domains: list[str] | None = None
    check_reachable: bool = False
    allow_private_hosts: bool = False
    timeout_s: float = 5.0
    max_links: int = 20
    failure_category: str | None = "hallucination"
    metric: str = "valid_links"
    _reachability: dict[str, str | None] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.allowed_domains is not None:
            if (
                not isinstance(self.allowed_domains, list)
                or not self.allowed_domains
                or not all(isinstance(d, str) and d.strip(". ") for d in self.allowed_domains)
            ):
                raise ValueError(
                    "valid_links: `allowed_domains` must be a non-empty list of domain names"
                )
            self.allowed_domains = [d.strip(". ").lower() for d in self.allowed_domains]
        if (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, int | float)
            or self.timeout_s <= 0
        ):
            raise ValueError(
                f"valid_links: `timeout_s` must be a positive number (got {self.timeout_s!r})"
            )
        if (
            isinstance(self.max_links, bool)
            or not isinstance(self.max_links, int)
            or self.max_links < 1
        ):
            raise ValueError(
                f"valid_links: `max_links` must be a positive integer (got {self.max_links!r})"
            )

    def _reachable_problem(self, url: str) -> str | None:
        if url not in self._reachability:
            if len(self._reachability) > 10_000:
                self._reachability.clear()
            self._reachability[url] = check_reachable(
                url, self.timeout_s, allow_private_hosts=self.allow_private_hosts
            )
        return self._reachability[url]

    def inspect(self, subject: Subject) -> Finding:
        links = find_urls(str(subject["output_text"]))
        if not links:
            return Finding(True, 1.0, "no links")
        problems: list[tuple[int, str, str]] = []
        syntax_only = True
        checked = 0
        for offset, url in links:
            problem = url_problem(url)
            if (
                problem is None
                and self.allowed_domains is not None
                and not host_allowed(host_of(url), self.allowed_domains)
            ):
                problem, syntax_only = f"host {host_of(url)} not in allowed_domains", False
            if problem is None and self.check_reachable and checked < self.max_links:
                checked += 1
                problem = self._reachable_problem(url)
                syntax_only = syntax_only and problem is None
            if problem is not None:
                problems.append((offset, url, problem))
        good_share = 1 - len(problems) / len(links)
        note = (
            f" (reachability checked for the first {self.max_links})"
            if self.check_reachable and checked >= self.max_links and len(links) > self.max_links
            else ""
        )
        details = {
            "links": len(links),
            "problems": [{"offset": o, "url": u, "problem": p} for o, u, p in problems[:100]],
        }
        if not problems:
            return Finding(
                True,
                1.0,
                f"{len(links)} link(s) valid{' and reachable' if self.check_reachable else ''}{note}",
                details=details,
            )
        shown = "; ".join(f"{_short(u, 80)} at char {o}: {p}" for o, u, p in problems[:5])
        category = "format_break" if syntax_only else "hallucination"
        return Finding(
            False,
            good_share,
            f"{len(problems)} of {len(links)} link(s) bad: {shown}{note}",
            category,
            details,
        )
