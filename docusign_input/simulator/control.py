"""The admin plane under ``/__simulator__/``: the Python API over HTTP, JSON in and out.

It lets tests written in any language (or a shell with curl) steer a running simulator.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Dict, Tuple

from .faults import Fault
from .scenarios import SCENARIOS
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = ["Control"]

Json = Dict[str, Any]
_Route = Callable[[Json, Request], Any]


class Control:
    """Maps ``(method, name)`` under the admin prefix to Simulator calls."""

    def __init__(self, simulator: Simulator):
        sim = self._sim = simulator
        self._routes: Dict[Tuple[str, str], _Route] = {
            ("GET", "state"): lambda body, req: sim.state(),
            ("GET", "requests"): lambda body, req: [r.to_json() for r in sim.requests],
            ("DELETE", "requests"): lambda body, req: sim.clear_requests(),
            ("GET", "event-ids"): lambda body, req: sim.event_ids(),
            ("POST", "events"): lambda body, req: {
                "event_ids": sim.append_events(
                    int(body.get("count", 1)), backdate_s=float(body.get("backdate_s", 0.0))
                )
            },
            ("POST", "backlog"): lambda body, req: {
                "event_ids": sim.seed_backlog(int(body["count"]), float(body.get("days", 1.0)))
            },
            ("GET", "scenarios"): lambda body, req: {
                name: scenario.summary for name, scenario in SCENARIOS.items()
            },
            ("POST", "scenario"): lambda body, req: {
                "event_ids": sim.play_scenario(_scenario(body))
            },
            ("POST", "event-rate"): lambda body, req: sim.set_event_rate(float(body["per_minute"])),
            ("POST", "consent"): lambda body, req: sim.set_consent(
                bool(body.get("granted", True)), body.get("integration_key"), body.get("user_id")
            ),
            ("POST", "monitor"): lambda body, req: sim.set_monitor_enabled(bool(body["enabled"])),
            ("POST", "token-lifetime"): lambda body, req: sim.set_token_lifetime(
                int(body["seconds"])
            ),
            ("POST", "expire-tokens"): lambda body, req: sim.expire_tokens(),
            ("POST", "keys"): lambda body, req: sim.register_key(
                body["integration_key"], body["public_key_pem"].encode()
            ),
            ("POST", "users"): lambda body, req: sim.register_user(
                body["user_id"],
                org_admin=bool(body.get("org_admin", True)),
                organizations=int(body.get("organizations", 1)),
            ),
            ("POST", "rate-limits"): lambda body, req: sim.set_rate_limits(**body),
            ("GET", "faults"): lambda body, req: [f.to_json() for f in sim.faults()],
            ("POST", "faults"): lambda body, req: sim.inject(Fault.from_json(body)),
            ("DELETE", "faults"): lambda body, req: sim.clear_faults(),
            ("GET", "private-key"): lambda body, req: sim.private_key_pem(
                req.query.get("fmt", "pkcs1")
            ).decode(),
        }

    def __call__(self, request: Request) -> Response:
        name = request.path.split("/", 2)[2].strip("/")
        route = self._routes.get((request.method, name))
        if route is None:
            return json_response(
                404,
                {
                    "error": "not_found",
                    "error_description": f"no admin route {request.method} {name}",
                },
            )
        body: Json = {}
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the request body must be a JSON object")
            result = route(body, request)
        except (KeyError, TypeError, ValueError) as exc:
            return json_response(
                400, {"error": "bad_request", "error_description": _describe(exc, body)}
            )
        return json_response(200, {"ok": True} if result is None else result)


def _scenario(body: Json) -> str:
    """The scenario the body names; an unknown name is a ValueError listing the known ones."""
    name = str(body["name"])
    if name not in SCENARIOS:
        raise ValueError(
            f"unknown scenario {name!r}; known scenarios: {', '.join(sorted(SCENARIOS))} "
            "(GET /__simulator__/scenarios describes them)"
        )
    return name


def _describe(exc: Exception, body: Any) -> str:
    """A sentence for a bad admin request, never a Python repr."""
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else "?"
        if isinstance(body, dict) and key not in body:
            return f"the request body needs the field {key!r}"
        return f"unknown {key!r}"
    return str(exc) or type(exc).__name__
