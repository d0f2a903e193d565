"""Bookinfo's four services as a team's own services: one file, one role per process.

    python3 bookinfo.py productpage|details|reviews|ratings

Written for meshsim from what Istio's docs say Bookinfo does (none of
Istio's sample code): productpage shows a book with its details and its
reviews; reviews v1 shows no stars, v2 black stars and v3 red stars, both
asking ratings for them. The timeouts are Bookinfo's, because Istio's tasks
teach with them: productpage gives reviews 3 s and tries twice (6 s in all,
the "bug" the fault-injection task finds), reviews v2 gives ratings 10 s,
v3 2.5 s. A failed dependency never fails the page: productpage still
answers 200 and says the part is unavailable, as Bookinfo does.

The standard library only (http.server, urllib): any python3 runs it.
urllib sends every call to `HTTP_PROXY`, the instance's Envoy sidecar, which
routes it by its host through Istio's rules. Each call carries the headers
of the request being served that Istio asks apps to forward (trace context)
and `end-user`, which the tasks' VirtualServices match on.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PRODUCT_ID = 0
FORWARDED = (
    "end-user",
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
)
# Bookinfo's timeouts (see the module doc).
DETAILS_TIMEOUT_S = 3.0
REVIEWS_TIMEOUT_S = 3.0
REVIEWS_TRIES = 2
RATINGS_TIMEOUT_S = {"black": 10.0, "red": 2.5}

DETAILS = {
    "id": PRODUCT_ID,
    "author": "William Shakespeare",
    "year": 1595,
    "type": "paperback",
    "pages": 200,
    "publisher": "PublisherA",
    "language": "English",
    "ISBN-10": "1234567890",
    "ISBN-13": "123-1234567890",
}
REVIEWS = [
    (
        "Reviewer1",
        "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!",
    ),
    (
        "Reviewer2",
        "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.",
    ),
]
RATINGS = {"Reviewer1": 5, "Reviewer2": 4}


class Call:
    """A call to a peer by its name, through the sidecar; never raises."""

    def __init__(self, status: int, body: dict[str, Any] | None, served_by: str = "") -> None:
        self.status, self.body, self.served_by = status, body, served_by

    @classmethod
    def get(cls, url: str, headers: dict[str, str], timeout: float) -> Call:
        req = urllib.request.Request(url, headers=headers)
        try:
            # build_opener reads HTTP_PROXY (the sidecar) and NO_PROXY now
            with urllib.request.build_opener().open(req, timeout=timeout) as resp:
                served_by = resp.headers.get("x-meshsim-served-by", "").split(";")[0]
                return cls(resp.status, json.loads(resp.read() or b"{}"), served_by)
        except urllib.error.HTTPError as err:
            err.close()
            return cls(err.code, None)
        except (OSError, ValueError):  # timeout, refused, reset, not JSON
            return cls(0, None)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    role = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # the sidecars log every request already

    def forwarded(self) -> dict[str, str]:
        return {h: v for h in FORWARDED if (v := self.headers.get(h)) is not None}

    def answer(
        self,
        status: int,
        body: object,
        ctype: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?")[0]
        if path == "/health":
            self.answer(200, {"status": f"{self.role} is healthy"})
            return
        route = ROUTES[self.role]
        for prefix, handler in route:
            if path == prefix or (
                prefix != "/" and prefix.endswith("/") and path.startswith(prefix)
            ):
                handler(self, path)
                return
        self.answer(404, {"error": f"{self.role} has no {path}"})


# --- productpage ------------------------------------------------------------


def _details(h: Handler) -> tuple[int, dict[str, Any]]:
    """details' status (500 when it did not answer) and the details, or an error."""
    call = Call.get(f"http://details:9080/details/{PRODUCT_ID}", h.forwarded(), DETAILS_TIMEOUT_S)
    if call.status == 200 and call.body is not None:
        return 200, call.body
    error = "Sorry, product details are currently unavailable for this book."
    return call.status or 500, {"error": error}


def _reviews(h: Handler) -> tuple[int, dict[str, Any], str]:
    """reviews' status, the reviews (or an error) and the instance that served
    them; tried twice as Bookinfo's page does."""
    for _ in range(REVIEWS_TRIES):
        url = f"http://reviews:9080/reviews/{PRODUCT_ID}"
        call = Call.get(url, h.forwarded(), REVIEWS_TIMEOUT_S)
        if call.status == 200 and call.body is not None:
            return 200, call.body, call.served_by
    error = "Sorry, product reviews are currently unavailable for this book."
    return call.status or 500, {"error": error}, ""


def product_page(h: Handler, _path: str) -> None:
    """The page is 200 whatever its parts say, as Bookinfo's is."""
    (_, details), (_, reviews, served_by) = _details(h), _reviews(h)
    lines = [
        "<html><head><title>Simple Bookstore App</title></head><body>",
        "<h1>The Comedy of Errors</h1>",
        f"<h2>Book Details</h2><pre>{json.dumps(details, indent=1)}</pre>",
        "<h2>Book Reviews</h2>",
    ]
    if "error" in reviews:
        lines.append(f"<p class='error'>{reviews['error']}</p>")
    for r in reviews.get("reviews", []):
        rating = r.get("rating", {})
        stars = (
            f"<p class='error'>{rating['error']}</p>"
            if "error" in rating
            else f"<p class='stars {rating['color']}'>{'*' * rating['stars']}</p>"
            if rating
            else ""
        )
        lines.append(
            f"<blockquote><p>{r['text']}</p><small>{r['reviewer']}</small>{stars}</blockquote>"
        )
    lines.append(f"<small>Reviews served by: {served_by or reviews.get('podname', '?')}</small>")
    lines.append("</body></html>")
    # Which instance answered (the sidecar's x-meshsim-served-by on reviews'
    # answer), reported back so the version shares of reviews' calls are known
    # even without subsets (meshsim reads x-upstreams; Bookinfo has no such header).
    upstreams = {"x-upstreams": served_by} if served_by else {}
    h.answer(200, "\n".join(lines), "text/html; charset=utf-8", upstreams)


def products(h: Handler, _path: str) -> None:
    h.answer(200, [{"id": PRODUCT_ID, "title": "The Comedy of Errors"}])


def product_api(h: Handler, path: str) -> None:
    """/api/v1/products/0, /api/v1/products/0/reviews, /api/v1/products/0/ratings:
    unlike the page, the API answers with the status of the service behind it
    (a 403 from details is a 403 here), as Bookinfo's does."""
    parts = path.rstrip("/").split("/")[4:]
    if parts[:1] != [str(PRODUCT_ID)]:
        h.answer(404, {"error": "Product not found"})
    elif len(parts) == 1:
        h.answer(*_details(h))
    elif parts[1:] == ["reviews"]:
        status, reviews, _ = _reviews(h)
        h.answer(status, reviews)
    elif parts[1:] == ["ratings"]:
        call = Call.get(f"http://ratings:9080/ratings/{PRODUCT_ID}", h.forwarded(), 3.0)
        h.answer(call.status or 500, call.body or {"error": "Sorry, ratings are unavailable"})
    else:
        h.answer(404, {"error": f"no {path}"})


# --- details, ratings, reviews ----------------------------------------------


def details(h: Handler, _path: str) -> None:
    h.answer(200, DETAILS)


def ratings(h: Handler, _path: str) -> None:
    h.answer(200, {"id": PRODUCT_ID, "ratings": RATINGS})


def reviews(h: Handler, _path: str) -> None:
    """v1 (ENABLE_RATINGS false) shows no stars; v2 and v3 ask ratings and
    colour the stars STAR_COLOR (black, red)."""
    color = os.environ.get("STAR_COLOR", "black")
    rated = os.environ.get("ENABLE_RATINGS", "false") == "true"
    stars: dict[str, Any] = {}
    rating_error = None
    if rated:
        call = Call.get(
            f"http://ratings:9080/ratings/{PRODUCT_ID}",
            h.forwarded(),
            RATINGS_TIMEOUT_S.get(color, 2.5),
        )
        if call.status == 200 and call.body is not None:
            stars = call.body.get("ratings", {})
        else:
            rating_error = "Ratings service is currently unavailable"
    out = []
    for reviewer, text in REVIEWS:
        review: dict[str, Any] = {"reviewer": reviewer, "text": text}
        if rating_error is not None:
            review["rating"] = {"error": rating_error}
        elif rated:
            review["rating"] = {"stars": stars.get(reviewer, 0), "color": color}
        out.append(review)
    version = os.environ.get("SERVICE_VERSION", "v1")
    h.answer(
        200,
        {
            "id": str(PRODUCT_ID),
            "podname": os.environ.get("INSTANCE_NAME", f"reviews-{version}"),
            "version": version,
            "reviews": out,
        },
    )


ROUTES = {
    "productpage": [
        ("/productpage", product_page),
        ("/", product_page),
        ("/api/v1/products", products),
        ("/api/v1/products/", product_api),
    ],
    "details": [("/details/", details)],
    "reviews": [("/reviews/", reviews)],
    "ratings": [("/ratings/", ratings)],
}


def main() -> None:
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ROUTES:
        sys.exit(f"usage: bookinfo.py {'|'.join(ROUTES)}")
    Handler.role = role
    server = ThreadingHTTPServer(
        (os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "9080"))), Handler
    )
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
