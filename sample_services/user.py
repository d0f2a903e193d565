"""The ``user`` service: a hundred deterministic users, kept in memory.

``GET /users/{id}`` returns a user for ids 1..100 and a 404 ``{"error": "not_found"}``
otherwise. Run it with ``PORT=8081 python -m sample_services.user``.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from sample_services.common import create_service_app, json_error, main

SERVICE: Final = "user"
USER_COUNT: Final = 100

_FIRST_NAMES: Final = (
    "Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Margaret",
    "Ken", "Radia", "Dennis", "Sophie", "Linus", "Katherine", "Guido", "Hedy",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Allen", "Knuth", "Hamilton",
    "Thompson", "Perlman", "Ritchie", "Wilson", "Torvalds", "Johnson", "Rossum", "Lamarr",
    "Kay", "Cerf", "Lamport", "Goldberg",
)  # fmt: skip
_TIERS: Final = ("standard", "standard", "standard", "gold", "platinum")


def make_user(user_id: int) -> dict[str, Any]:
    """The user with ``user_id`` (1..100); the same every time, on every instance."""
    first = _FIRST_NAMES[(user_id - 1) % len(_FIRST_NAMES)]
    last = _LAST_NAMES[(user_id * 7) % len(_LAST_NAMES)]
    return {
        "id": user_id,
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}{user_id}@example.com",
        "tier": _TIERS[user_id % len(_TIERS)],
    }


USERS: Final = {user_id: make_user(user_id) for user_id in range(1, USER_COUNT + 1)}

routes = web.RouteTableDef()


@routes.get(r"/users/{id:\d+}")
async def get_user(request: web.Request) -> web.Response:
    user_id = int(request.match_info["id"])
    user = USERS.get(user_id)
    if user is None:
        return json_error(404, "not_found", resource="user", id=user_id)
    return web.json_response(user)


def create_app(*, version: str | None = None, instance_name: str | None = None) -> web.Application:
    """The user app; ``version``/``instance_name`` default to the environment."""
    return create_service_app(
        SERVICE,
        routes,
        describe={"endpoints": ["GET /users/{id}", "GET /healthz"], "users": USER_COUNT},
        version=version,
        instance_name=instance_name,
    )


if __name__ == "__main__":
    main(create_app)
