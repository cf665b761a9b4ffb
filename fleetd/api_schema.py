"""fleetd's API answers as pydantic models, and its OpenAPI 3.1 document built from them.

Each model is the shape of one answer of fleetd.api (the controller builds plain dicts;
tests validate live answers against these models and the served document, so the
document cannot drift from what is served). The JSON Schemas come from pydantic through
plumbing.openapi, as for the pool's stats API; only the paths are written here by hand.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from plumbing.openapi import Answer, Error, body, document, ok, one_of, path_param

# ---------------------------------------------------------------------- reads


class SourceView(Answer):
    """One allotment source: its figure, and whether fleetd trusts it."""

    name: str = Field(description="the source's configured name")
    kind: str = Field(description="constant, schedule, http_json, zmq or override")
    mw: float | None = Field(description="its figure now (MW); null when it does not apply")
    as_of: float | None = Field(description="when its figure became valid (epoch seconds)")
    age_s: float | None = Field(description="how old its figure is (seconds)")
    stale: bool = Field(description="its figure is too old: its floor applies")
    state: Literal["ok", "failing", "stale"] = Field(
        description="ok: trusted; failing: a fresh figure but its latest attempts failed; "
        "stale: its floor applies")
    reason: str = Field(description="what is wrong, in one line (empty when ok)")
    failing_since: float | None = Field(description="when the trouble began (epoch seconds)")
    failing_for_s: float | None = Field(description="how long it has been failing (seconds)")
    errors: int = Field(description="failed polls or messages since fleetd started")
    last_error: str = Field(description="the last of them")


class OverrideView(Answer):
    """The operator's cap in force."""

    mw: float = Field(description="the cap (MW)")
    expires_at: float = Field(description="when it lapses (epoch seconds)")
    reason: str = Field(description="why, as the operator gave it")
    by: str = Field(description="the name of the API token that set it")


class Site(Answer):
    """One site now: its allotment, power, plan, rigs by state and compliance figures."""

    site: str = Field(description="the site's name")
    allotment_mw: float = Field(description="the allotment in force (MW)")
    allotment_reason: str = Field(description="which source binds, and why")
    allotment_stale: bool = Field(description="the binding figure is a stale feed's floor")
    budget_kw: float = Field(description="what the planner may give the rigs (kW)")
    site_kw: float = Field(description="the site's draw: metered, else estimated (kW)")
    site_power_source: Literal["meter", "estimate"] = Field(description="where site_kw is from")
    firm_kw: float = Field(description="firm loads counted against the allotment (kW)")
    planned_kw: float = Field(description="the last plan's total for the rigs (kW)")
    planned_ths: float = Field(description="the last plan's hashrate (TH/s)")
    hashrate_ths: float = Field(description="what fresh rigs report (TH/s)")
    rigs: int = Field(description="rigs in the site's config")
    rigs_by_state: dict[str, int] = Field(description="rigs by state as last read")
    emergency: bool = Field(description="the emergency stop holds")
    emergency_reason: str = Field(description="who stopped the site, and why")
    override: OverrideView | None = Field(description="the operator's cap; null when none")
    above_cap_s: float = Field(description="time above the allotment in force (seconds)")
    above_cap_kwh: float = Field(description="energy above the allotment in force (kWh)")
    above_floor_s: float = Field(description="time above a stale feed's floor while it bound")
    above_floor_kwh: float = Field(description="energy above that floor (kWh)")
    above_cap_source: str = Field(description="what the compliance figures are measured from")
    cycles: int = Field(description="plan steps since fleetd started")
    last_cycle_s: float = Field(description="how long the last plan step took (seconds)")
    commands: dict[str, dict[str, int]] = Field(
        description="commands sent since fleetd started, by kind, then ok or failed")
    meter_factor: float = Field(description="the site meter over the rigs' own figures")
    rigs_credentials_refused: int = Field(
        description="rigs that refuse the configured credentials (counted at nameplate)")
    credentials_refused: list[str] = Field(
        description="the hosts of such rigs (the first 100)")
    allotment_sources: list[SourceView]


class SiteList(Answer):
    """Every site."""

    sites: list[Site]


class Rig(Answer):
    """One rig: its last reading, what fleetd wants of it, its thermal cap."""

    host: str = Field(description="the rig's address")
    name: str = Field(description="its name in the config")
    model: str = Field(description="its model (a key of the rig catalog)")
    firmware: str = Field(description="its firmware family")
    control: Literal["profiles", "watts", "modes", "percent", "limit"] = Field(
        description="how fleetd commands it: LuxOS profiles, a Braiins watt target, stock "
        "modes, a Whatsminer percentage or power limit")
    response_s: float = Field(
        description="how long after a command's answer its draw may still be above the "
        "lower target (s): no reduction is counted before")
    fresh: bool = Field(description="its last reading is recent enough to trust")
    state: str = Field(description="its state as last read (unreachable when never read)")
    watts: float | None = Field(description="what it reported drawing (W)")
    ths: float | None = Field(description="what it reported hashing (TH/s)")
    temp_c: float | None = Field(description="its hottest reported temperature (°C)")
    target_w: float | None = Field(
        description="watts of the profile or power limit it runs (as last read, or as fleetd "
        "last set it)")
    intent: Literal["unknown", "asleep", "awake"] = Field(
        description="what fleetd last told it")
    thermal_cap_w: float | None = Field(description="the power its temperature allows (W)")
    error: str = Field(description="its last read or command error (empty when none)")


class RigList(Answer):
    """A site's rigs, in config order."""

    site: str = Field(description="the site's name")
    rigs: list[Rig]


class PlannedRig(Answer):
    """What the last plan does with one rig."""

    host: str = Field(description="the rig's address")
    command: str = Field(description="what it is sent: keep (nothing), sleep, wake or set")
    awake: bool = Field(description="awake in the plan")
    target_w: float | None = Field(description="the power planned for it (W)")
    profile: str | None = Field(description="the profile or mode planned (null: none)")
    planned: bool = Field(description="false for a rig unreachable, stale or of an unknown model")
    hold_broken: bool = Field(description="the plan breaks its minimum hold (a cap forces it)")


class Plan(Answer):
    """The last plan of a site."""

    site: str = Field(description="the site's name")
    at: float = Field(description="when it was planned (epoch seconds)")
    budget_kw: float = Field(description="the budget it planned for (kW)")
    limit_kw: float = Field(
        description="what it was allowed: the budget after the ramp-up limit (kW)")
    total_kw: float = Field(description="its total for the rigs (kW)")
    total_ths: float = Field(description="its hashrate (TH/s)")
    unplanned_kw: float = Field(description="rigs not planned, counted at nameplate (kW)")
    infeasible: bool = Field(description="even with every rig asleep it exceeds the budget")
    ramp_limited: bool = Field(description="the ramp-up limit held it below the budget")
    emergency: bool = Field(description="the emergency stop's plan: every rig asleep")
    counts: dict[str, int] = Field(description="its commands by kind")
    rigs: list[PlannedRig]


class NoPlan(Answer):
    """A site that has not planned yet."""

    site: str = Field(description="the site's name")
    plan: None = Field(description="always null: no plan yet")


class Allotment(Answer):
    """The allotment fleetd steers by, the one granted now, and every source."""

    site: str = Field(description="the site's name")
    at: float = Field(description="server time of this answer (epoch seconds)")
    allotment_mw: float = Field(description="what fleetd steers by (MW)")
    bound_by: str = Field(description="the source that binds (empty when none applies)")
    reason: str = Field(description="which source binds, and why")
    stale: bool = Field(description="the binding figure is a stale feed's floor")
    in_force_mw: float = Field(description="the allotment granted now (MW)")
    sources: list[SourceView]


# ---------------------------------------------------------------------- mutations


class OverrideSet(OverrideView):
    """The override just set."""

    change_id: str = Field(description="its id in the audit log")


class OverrideAnswer(Answer):
    """A site's new override."""

    site: str = Field(description="the site's name")
    override: OverrideSet


class OverrideCleared(Answer):
    """Whether an override was lifted."""

    site: str = Field(description="the site's name")
    cleared: bool = Field(description="an override was in force and is lifted")


class EmergencyState(Answer):
    """A site's emergency stop, after the request."""

    site: str = Field(description="the site's name")
    emergency: bool = Field(description="the emergency stop holds")


class EveryEmergency(Answer):
    """Every site stopped."""

    sites: list[str] = Field(description="the sites stopped")
    emergency: bool = Field(description="always true")


class OverrideRequest(BaseModel):
    """Cap a site by hand; other keys are ignored."""

    mw: float = Field(description="the cap (MW)")
    ttl_s: float = Field(3600.0, description="when it lapses (seconds from now)")
    reason: str = Field("", description="why, for the audit log")


class ReasonRequest(BaseModel):
    """Why (for the audit log); other keys are ignored."""

    reason: str = Field("", description="why, for the audit log")


MODELS: tuple[type[Answer], ...] = (
    SiteList, Site, RigList, Plan, NoPlan, Allotment, OverrideAnswer, OverrideCleared,
    EmergencyState, EveryEmergency, Error,
)  # fmt: skip
REQUESTS: tuple[type[BaseModel], ...] = (OverrideRequest, ReasonRequest)

# ---------------------------------------------------------------------- the document

_SEC: list[dict[str, list[str]]] = [{"bearer": []}]
_SITE = path_param("site", "the site's name, as in the config")
_NO_SITE = ok(Error, "no such site")
_REFUSED = {"401": ok(Error, "no or a wrong bearer token"),
            "403": ok(Error, "mutations are off: no token is configured")}  # fmt: skip


def _read(summary: str, answer: type[BaseModel] | dict[str, Any], what: str) -> dict[str, Any]:
    """GET of one site's view: 200 with it, 404 when there is no such site."""
    return {"get": {"summary": summary, "parameters": [_SITE],
                    "responses": {"200": ok(answer, what), "404": _NO_SITE}}}  # fmt: skip


def _act(summary: str, answer: type[Answer], request: type[BaseModel] | None = None,
         site: bool = True, bad: bool = False) -> dict[str, Any]:  # fmt: skip
    """POST or DELETE that needs the bearer token."""
    responses = {"200": ok(answer, "done"), **_REFUSED}
    if site:
        responses["404"] = _NO_SITE
    if bad or request is not None:
        responses["400"] = ok(Error, "a body that is not a JSON object, or a bad figure")
    op: dict[str, Any] = {"summary": summary, "security": _SEC, "responses": responses}
    if site:
        op["parameters"] = [_SITE]
    if request is not None:
        op["requestBody"] = body(request, required=request is OverrideRequest)
    return op


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document served at /openapi.json."""
    paths = {
        "/sites": {"get": {"summary": "Every site",
                           "responses": {"200": ok(SiteList, "every site")}}},
        "/sites/{site}": _read("One site", Site, "the site"),
        "/sites/{site}/rigs": _read("A site's rigs", RigList, "its rigs"),
        "/sites/{site}/plan": _read("The last plan", one_of(Plan, NoPlan),
                                    "its last plan, or none yet"),
        "/sites/{site}/allotment": _read(
            "The allotment in force, each source's state and what is wrong", Allotment,
            "its allotment"),
        "/sites/{site}/allotment/override": {
            "post": _act("Cap the site by hand (lapses after ttl_s)", OverrideAnswer,
                         OverrideRequest),
            "delete": _act("Lift the override", OverrideCleared),
        },
        "/sites/{site}/emergency-stop": {"post": _act(
            "Every rig of the site to sleep, until resumed", EmergencyState, ReasonRequest)},
        "/sites/{site}/resume": {"post": _act(
            "End the emergency stop", EmergencyState, ReasonRequest)},
        "/emergency-stop": {"post": _act(
            "Every rig of every site to sleep", EveryEmergency, ReasonRequest, site=False)},
        "/openapi.json": {"get": {"summary": "This document", "responses": {
            "200": ok({"type": "object"}, "OpenAPI 3.1")}}},
    }  # fmt: skip
    return document(
        title="fleetd", version="1.0.0",
        description="Keeps each site inside its allotted power with the most hashrate.",
        paths=paths, models=MODELS, requests=REQUESTS,
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
    )  # fmt: skip


OPENAPI: dict[str, Any] = openapi()
