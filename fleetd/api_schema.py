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

    name: str
    """the source's configured name"""
    kind: str
    """constant, schedule, http_json, zmq or override"""
    mw: float | None
    """its figure now (MW); null when it does not apply"""
    as_of: float | None
    """when its figure became valid (epoch seconds)"""
    age_s: float | None
    """how old its figure is (seconds)"""
    stale: bool
    """its figure is too old: its floor applies"""
    state: Literal["ok", "failing", "stale"] = Field(
        description="ok: trusted; failing: a fresh figure but its latest attempts failed; "
        "stale: its floor applies")
    reason: str
    """what is wrong, in one line (empty when ok)"""
    failing_since: float | None
    """when the trouble began (epoch seconds)"""
    failing_for_s: float | None
    """how long it has been failing (seconds)"""
    errors: int
    """failed polls or messages since fleetd started"""
    last_error: str
    """the last of them"""


class OverrideView(Answer):
    """The operator's cap in force."""

    mw: float
    """the cap (MW)"""
    expires_at: float
    """when it lapses (epoch seconds)"""
    reason: str
    """why, as the operator gave it"""
    by: str
    """the name of the API token that set it"""


class Site(Answer):
    """One site now: its allotment, power, plan, rigs by state and compliance figures."""

    site: str
    """the site's name"""
    allotment_mw: float
    """the allotment in force (MW)"""
    allotment_reason: str
    """which source binds, and why"""
    allotment_stale: bool
    """the binding figure is a stale feed's floor"""
    budget_kw: float
    """what the planner may give the rigs (kW)"""
    site_kw: float
    """the site's draw: metered, else estimated (kW)"""
    site_power_source: Literal["meter", "estimate"]
    """where site_kw is from"""
    firm_kw: float
    """firm loads counted against the allotment (kW)"""
    planned_kw: float
    """the last plan's total for the rigs (kW)"""
    planned_ths: float
    """the last plan's hashrate (TH/s)"""
    hashrate_ths: float
    """what fresh rigs report (TH/s)"""
    rigs: int
    """rigs in the site's config"""
    rigs_by_state: dict[str, int]
    """rigs by state as last read"""
    emergency: bool
    """the emergency stop holds"""
    emergency_reason: str
    """who stopped the site, and why"""
    override: OverrideView | None
    """the operator's cap; null when none"""
    above_cap_s: float
    """time above the allotment in force (seconds)"""
    above_cap_kwh: float
    """energy above the allotment in force (kWh)"""
    above_floor_s: float
    """time above a stale feed's floor while it bound"""
    above_floor_kwh: float
    """energy above that floor (kWh)"""
    above_cap_source: str
    """what the compliance figures are measured from"""
    cycles: int
    """plan steps since fleetd started"""
    last_cycle_s: float
    """how long the last plan step took (seconds)"""
    commands: dict[str, dict[str, int]]
    """commands sent since fleetd started, by kind, then ok or failed"""
    meter_factor: float
    """the site meter over the rigs' own figures"""
    rigs_credentials_refused: int
    """rigs that refuse the configured credentials (counted at nameplate)"""
    credentials_refused: list[str]
    """the hosts of such rigs (the first 100)"""
    allotment_sources: list[SourceView]


class SiteList(Answer):
    """Every site."""

    sites: list[Site]


class Rig(Answer):
    """One rig: its last reading, what fleetd wants of it, its thermal cap."""

    host: str
    """the rig's address"""
    name: str
    """its name in the config"""
    model: str
    """its model (a key of the rig catalog)"""
    firmware: str
    """its firmware family"""
    control: Literal["profiles", "watts", "modes", "percent", "limit"]
    """how fleetd commands it: LuxOS profiles, a Braiins watt target, stock modes, a
    Whatsminer percentage or power limit"""
    response_s: float
    """how long after a command's answer its draw may still be above the lower target (s):
    no reduction is counted before"""
    fresh: bool
    """its last reading is recent enough to trust"""
    state: str
    """its state as last read (unreachable when never read)"""
    watts: float | None
    """what it reported drawing (W)"""
    ths: float | None
    """what it reported hashing (TH/s)"""
    temp_c: float | None
    """its hottest reported temperature (°C)"""
    target_w: float | None = Field(
        description="watts of the profile or power limit it runs (as last read, or as fleetd "
        "last set it)")
    intent: Literal["unknown", "asleep", "awake"]
    """what fleetd last told it"""
    thermal_cap_w: float | None
    """the power its temperature allows (W)"""
    error: str
    """its last read or command error (empty when none)"""


class RigList(Answer):
    """A site's rigs, in config order."""

    site: str
    """the site's name"""
    rigs: list[Rig]


class PlannedRig(Answer):
    """What the last plan does with one rig."""

    host: str
    """the rig's address"""
    command: str
    """what it is sent: keep (nothing), sleep, wake or set"""
    awake: bool
    """awake in the plan"""
    target_w: float | None
    """the power planned for it (W)"""
    profile: str | None
    """the profile or mode planned (null: none)"""
    planned: bool
    """false for a rig unreachable, stale or of an unknown model"""
    hold_broken: bool
    """the plan breaks its minimum hold (a cap forces it)"""


class Plan(Answer):
    """The last plan of a site."""

    site: str
    """the site's name"""
    at: float
    """when it was planned (epoch seconds)"""
    budget_kw: float
    """the budget it planned for (kW)"""
    limit_kw: float
    """what it was allowed: the budget after the ramp-up limit (kW)"""
    total_kw: float
    """its total for the rigs (kW)"""
    total_ths: float
    """its hashrate (TH/s)"""
    unplanned_kw: float
    """rigs not planned, counted at nameplate (kW)"""
    infeasible: bool
    """even with every rig asleep it exceeds the budget"""
    ramp_limited: bool
    """the ramp-up limit held it below the budget"""
    emergency: bool
    """the emergency stop's plan: every rig asleep"""
    counts: dict[str, int]
    """its commands by kind"""
    rigs: list[PlannedRig]


class NoPlan(Answer):
    """A site that has not planned yet."""

    site: str
    """the site's name"""
    plan: None
    """always null: no plan yet"""


class Allotment(Answer):
    """The allotment fleetd steers by, the one granted now, and every source."""

    site: str
    """the site's name"""
    at: float
    """server time of this answer (epoch seconds)"""
    allotment_mw: float
    """what fleetd steers by (MW)"""
    bound_by: str
    """the source that binds (empty when none applies)"""
    reason: str
    """which source binds, and why"""
    stale: bool
    """the binding figure is a stale feed's floor"""
    in_force_mw: float
    """the allotment granted now (MW)"""
    sources: list[SourceView]


# ---------------------------------------------------------------------- mutations


class OverrideSet(OverrideView):
    """The override just set."""

    change_id: str
    """its id in the audit log"""


class OverrideAnswer(Answer):
    """A site's new override."""

    site: str
    """the site's name"""
    override: OverrideSet


class OverrideCleared(Answer):
    """Whether an override was lifted."""

    site: str
    """the site's name"""
    cleared: bool
    """an override was in force and is lifted"""


class EmergencyState(Answer):
    """A site's emergency stop, after the request."""

    site: str
    """the site's name"""
    emergency: bool
    """the emergency stop holds"""


class EveryEmergency(Answer):
    """Every site stopped."""

    sites: list[str]
    """the sites stopped"""
    emergency: bool
    """always true"""


class OverrideRequest(BaseModel):
    """Cap a site by hand; other keys are ignored."""

    mw: float = Field(description="the cap (MW)")
    ttl_s: float = Field(3600.0, description="when it lapses (seconds from now)")
    reason: str = Field("", description="why, for the audit log")


class ReasonRequest(BaseModel):
    """Why (for the audit log); other keys are ignored."""

    reason: str = Field("", description="why, for the audit log")


class ShedFirstRequest(BaseModel):
    """The rigs to shed before any other (by name or address); the list replaces the last."""

    rigs: list[str] = Field(description="rig names (as in the config) or addresses")
    reason: str = Field("", description="why (the coordinator: rigs the pool credits far "
                        "less than they claim)")


class ShedFirst(Answer):
    """The rigs the site now sheds before any other."""

    site: str
    """the site's name"""
    rigs: list[str]
    """the listed rigs this site has"""
    unknown: list[str]
    """listed names this site has no rig of (ignored)"""


class ComplianceReport(Answer):
    """The site's compliance report per 15 minutes: `report` is what `surplus fleetd
    report --json` writes (fleetd.report), which a coordinator aggregates across sites."""

    site: str = Field(description="the site's name")
    report: dict[str, Any] = Field(
        description="from, to, interval_s, source, totals and intervals (each with the "
        "allotment, energy, time and energy above it, and commands)")


MODELS: tuple[type[Answer], ...] = (
    SiteList, Site, RigList, Plan, NoPlan, Allotment, OverrideAnswer, OverrideCleared,
    EmergencyState, EveryEmergency, ShedFirst, ComplianceReport, Error,
)  # fmt: skip
REQUESTS: tuple[type[BaseModel], ...] = (OverrideRequest, ReasonRequest, ShedFirstRequest)

# ---------------------------------------------------------------------- the document

_SEC: list[dict[str, list[str]]] = [{"bearer": []}]
_SITE = path_param("site", "the site's name, as in the config")
_NO_SITE = ok(Error, "no such site")


def _when(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": True,
            "description": "epoch seconds or ISO 8601 with a UTC offset",
            "schema": {"type": "string"}}  # fmt: skip
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
        "/sites/{site}/report": {"get": {
            "summary": "The compliance report per 15 minutes (as `surplus fleetd report --json`)",
            "parameters": [_SITE, _when("from"), _when("to")],
            "responses": {"200": ok(ComplianceReport, "the report"),
                          "400": ok(Error, "a bad or too long span"),
                          "404": ok(Error, "no such site, or no audit log")}}},
        "/sites/{site}/allotment/override": {
            "post": _act("Cap the site by hand (lapses after ttl_s)", OverrideAnswer,
                         OverrideRequest),
            "delete": _act("Lift the override", OverrideCleared),
        },
        "/sites/{site}/emergency-stop": {"post": _act(
            "Every rig of the site to sleep, until resumed", EmergencyState, ReasonRequest)},
        "/sites/{site}/shed-first": {"put": _act(
            "Rigs to shed before any other (fleetd.control.shed_first)", ShedFirst,
            ShedFirstRequest)},
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
