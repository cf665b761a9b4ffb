"""Braiins OS+ public API (gRPC, braiins.bos.v1) of one rig, as a pure core.

Requests and replies are the betterproto messages pyasic 0.79 ships
(pyasic/web/braiins_os/proto), so what pyasic's BOSer sends is exactly what this reads.
The gRPC shell (rigsim.braiins_grpc) checks the `authorization` token and calls
`BraiinsApi.call(i, method, request)`; this module never touches a socket.

Behaviour, after the Braiins public API docs (github.com/braiins/bos-plus-api) and what
pyasic reads:
  - Login answers with the token in the `authorization` response header (and, as newer
    firmware does, in LoginResponse.token); a wrong user or password gets
    UNAUTHENTICATED, as does a missing or expired token on any other call but
    GetApiVersion. Tokens live `token_timeout_s` (an hour) and die with a reboot.
  - The autotuner: SetPowerTarget / Increment / Decrement / SetDefaultPowerTarget /
    SetPerformanceMode change the target at once (the reply carries it), while the draw
    moves to it gradually: tune_down_s for a lower target, tune_up_s for a higher one
    (the rig model's timings). A target outside GetConstraints' [min, max] gets
    INVALID_ARGUMENT. SAVE_ACTION_SAVE only saves: it applies when bosminer next starts.
  - PauseMining sheds the boards to sleep (shed_s); ResumeMining boots them again
    (boot_s, then ramp_up_s). Stop stops bosminer (its port 4028 refuses, the boards
    sleep); Start and Restart start it again (restart_api_s until 4028 answers, restart_s
    until the boards hash). While bosminer is down, calls that need it (stats, hashboards,
    cooling, tuner, targets, pools, pause and resume) get UNAVAILABLE.
  - Reboot reboots the control board: every port is down for api_down_s.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import betterproto
from grpclib import GRPCError, Status
from pyasic.web.braiins_os.proto.braiins.bos import ApiVersion, ApiVersionRequest
from pyasic.web.braiins_os.proto.braiins.bos import v1 as bos

from rigsim.physics import RigReading, RigState
from rigsim.readings import board_temps, chain_rates_gh, is_up, mac_address, serial_number

if TYPE_CHECKING:
    from rigsim.rig import FleetView

BOS_VERSION = "2024-06-25-0-5e1c0b3a-24.04-plus"  # pyasic reads the 6th "-" field: 24.04
API_VERSION = (1, 3, 0)
MAX_TOKENS = 64  # live tokens a rig keeps; the oldest goes first
_ALPHABET = string.ascii_letters + string.digits

PUBLIC, AUTH, MINER = 0, 1, 2  # who may call: anyone; a logged-in client; ... with bosminer up


def _new_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


class BraiinsApi:
    """The gRPC public API of every Braiins OS rig of a fleet (sync, pure)."""

    def __init__(self, fleet: FleetView) -> None:
        self.fleet = fleet
        self.settings = fleet.config.firmware.braiins
        self._memo: dict[tuple[int, str], tuple[tuple[Any, ...], bytes]] = {}

    # ------------------------------------------------------------------ authentication

    def login(self, i: int, username: str, password: str, now: float) -> str:
        """A new token for rig i; UNAUTHENTICATED for a wrong user or password."""
        s = self.settings
        if username != s.username or not secrets.compare_digest(
            password.encode(), s.password.encode()
        ):
            raise GRPCError(Status.UNAUTHENTICATED, "Invalid username or password")
        tokens = self.fleet.firmware(i).live_tokens(now)
        while len(tokens) >= MAX_TOKENS:
            del tokens[next(iter(tokens))]
        token = _new_token()
        tokens[token] = now + s.token_timeout_s
        return token

    def authorised(self, i: int, token: str | None, now: float) -> bool:
        return bool(token) and token in self.fleet.firmware(i).live_tokens(now)

    # ------------------------------------------------------------------ state

    def default_target_w(self, i: int) -> int:
        return round(self.fleet.rigs[i].model.nameplate_w)

    def active_target_w(self, i: int) -> int:
        """The power target the tuner works to now."""
        fw = self.fleet.firmware(i)
        return self.default_target_w(i) if fw.power_target_w is None else fw.power_target_w

    def saved_target_w(self, i: int) -> int:
        fw = self.fleet.firmware(i)
        return self.active_target_w(i) if fw.saved_target_w is None else fw.saved_target_w

    def running(self, r: RigReading) -> bool:
        """bosminer answers (neither stopped nor restarting)."""
        return self.fleet.now() >= r.process_down_until

    def stopped(self, i: int) -> bool:
        return bool(self.fleet.physics.process_down_until[i] == float("inf"))

    def _apply_target(self, i: int, watts: int) -> None:
        rig = self.fleet.rigs[i]
        self.fleet.firmware(i).power_target_w = watts
        m = rig.model
        self.fleet.set_clock(i, m.clock_for_watts(watts), up_s=m.tune_up_s, down_s=m.tune_down_s)

    def _load_saved(self, i: int) -> None:
        """bosminer (re)starts: the saved configuration becomes the running one."""
        fw = self.fleet.firmware(i)
        fw.power_target_w, fw.saved_target_w = self.saved_target_w(i), None
        self.fleet.set_clock(i, self.fleet.rigs[i].model.clock_for_watts(fw.power_target_w))

    def _start(self, i: int) -> None:
        self._load_saved(i)
        self.fleet.restart_process(i, hashing=not self.fleet.firmware(i).paused)

    # ------------------------------------------------------------------ dispatch

    def _reading(self, i: int, method: str) -> RigReading:
        """Rig i now; UNAVAILABLE when `method` needs bosminer and it is down."""
        r = self.fleet.reading(i)
        if METHODS_BY_NAME[method] == MINER and not self.running(r):
            raise GRPCError(Status.UNAVAILABLE, "bosminer is not running")
        return r

    def call(self, i: int, method: str, request: betterproto.Message) -> betterproto.Message:
        """Rig i's reply to one call (`method`: a core name from METHODS); GRPCError when
        refused. The caller has checked the token; this checks that bosminer runs."""
        r = self._reading(i, method)
        fn: Callable[[int, Any, RigReading], betterproto.Message] = getattr(self, f"_{method}")
        return fn(i, request, r)

    def encoded(self, i: int, method: str, request: betterproto.Message) -> bytes:
        """`call`'s reply, serialised; the biggest replies come from a per-rig memo while
        the numbers they carry stay the same."""
        names = _MEMOISED.get(method)
        if names is None:
            return bytes(self.call(i, method, request))
        view = getattr(self, names[0])(i, self._reading(i, method))
        last = self._memo.get((i, method))
        if last is not None and last[0] == view:
            return last[1]
        data = bytes(getattr(self, names[1])(i, view))
        self._memo[(i, method)] = (view, data)
        return data

    # ------------------------------------------------------------------ version, actions

    def _get_api_version(self, i: int, q: ApiVersionRequest, r: RigReading) -> ApiVersion:
        major, minor, patch = API_VERSION
        return ApiVersion(major=major, minor=minor, patch=patch)

    def _start_mining(self, i: int, q: bos.StartRequest, r: RigReading) -> bos.StartResponse:
        if not self.stopped(i):
            return bos.StartResponse(already_running=True)
        self._start(i)
        return bos.StartResponse(already_running=False)

    def _stop(self, i: int, q: bos.StopRequest, r: RigReading) -> bos.StopResponse:
        if self.stopped(i):
            return bos.StopResponse(already_stopped=True)
        self.fleet.stop_process(i)
        return bos.StopResponse(already_stopped=False)

    def _restart(self, i: int, q: bos.RestartRequest, r: RigReading) -> bos.RestartResponse:
        was_running = not self.stopped(i)
        self._start(i)
        return bos.RestartResponse(already_running=was_running)

    def _reboot(self, i: int, q: bos.RebootRequest, r: RigReading) -> bos.RebootResponse:
        self._load_saved(i)
        self.fleet.reboot(i)
        return bos.RebootResponse()

    def _pause_mining(
        self, i: int, q: bos.PauseMiningRequest, r: RigReading
    ) -> bos.PauseMiningResponse:
        return bos.PauseMiningResponse(already_paused=not self._set_paused(i, True))

    def _resume_mining(
        self, i: int, q: bos.ResumeMiningRequest, r: RigReading
    ) -> bos.ResumeMiningResponse:
        return bos.ResumeMiningResponse(already_mining=not self._set_paused(i, False))

    def _set_paused(self, i: int, paused: bool) -> bool:
        """Pause (sleep) or resume (wake) rig i; False when it already was so."""
        fw = self.fleet.firmware(i)
        if fw.paused == paused:
            return False
        fw.paused = paused
        (self.fleet.sleep if paused else self.fleet.wake)(i)
        return True

    def _set_locate_device_status(
        self, i: int, q: bos.SetLocateDeviceStatusRequest, r: RigReading
    ) -> bos.LocateDeviceStatusResponse:
        self.fleet.firmware(i).locate = bool(q.enable)
        return bos.LocateDeviceStatusResponse(enabled=bool(q.enable))

    def _get_locate_device_status(
        self, i: int, q: bos.GetLocateDeviceStatusRequest, r: RigReading
    ) -> bos.LocateDeviceStatusResponse:
        return bos.LocateDeviceStatusResponse(enabled=self.fleet.firmware(i).locate)

    # ------------------------------------------------------------------ miner

    def _status(self, i: int, r: RigReading) -> bos.MinerStatus:
        if self.stopped(i):
            return bos.MinerStatus.NOT_STARTED
        if self.fleet.firmware(i).paused:
            return bos.MinerStatus.PAUSED
        return bos.MinerStatus.NORMAL

    def _get_miner_status(
        self, i: int, q: bos.GetMinerStatusRequest, r: RigReading
    ) -> bos.GetMinerStatusResponse:
        return bos.GetMinerStatusResponse(status=self._status(i, r))

    def _get_miner_details(
        self, i: int, q: bos.GetMinerDetailsRequest, r: RigReading
    ) -> bos.GetMinerDetailsResponse:
        rig = self.fleet.rigs[i]
        m = rig.model
        serial = serial_number("BOS", rig.address)
        return bos.GetMinerDetailsResponse(
            uid=serial,
            miner_identity=bos.MinerIdentity(
                brand=bos.MinerBrand.ANTMINER, name=m.luxos_type, miner_model=m.luxos_type
            ),
            platform=bos.Platform.AM3_BBB,
            bos_mode=bos.BosMode.NAND,
            bos_version=bos.BosVersion(current=BOS_VERSION, major=BOS_VERSION, bos_plus=True),
            hostname=rig.name,
            mac_address=mac_address(rig.address).lower(),
            sticker_hashrate=bos.GigaHashrate(gigahash_per_second=m.nameplate_ths * 1000.0),
            bosminer_uptime_s=0 if self.stopped(i) else int(r.process_uptime_s),
            system_uptime_s=int(r.uptime_s),
            status=self._status(i, r),
            kernel_version="5.10.0",
            psu_info=bos.PsuInfo(serial_number=serial_number("PSU", rig.address)),
            control_board_soc_family=bos.ControlBoardSocFamily.BBB,
            serial_number=serial,
        )

    # The two biggest replies are built from a "view": a tuple of exactly the numbers they
    # carry. `encoded` keeps each rig's last view and bytes, so a settled rig's reply is
    # not built and serialised again (betterproto is most of the API's CPU).

    def _stats_view(self, i: int, r: RigReading) -> tuple[Any, ...]:
        pool = self.fleet.pool_status(i)
        ideal = self.fleet.rigs[i].model.ths_at(r.clock_set) * 1000.0
        gh = sum(chain_rates_gh(r))
        return (pool.accepted, pool.rejected, pool.stale, round(gh, 3), round(ideal, 3),
                round(r.reported_w))  # fmt: skip

    def _stats_reply(self, i: int, view: tuple[Any, ...]) -> bos.GetMinerStatsResponse:
        accepted, rejected, stale, gh, ideal, watts = view
        return bos.GetMinerStatsResponse(
            pool_stats=bos.PoolStats(
                accepted_shares=accepted, rejected_shares=rejected, stale_shares=stale
            ),
            miner_stats=bos.WorkSolverStats(
                real_hashrate=_real_hashrate(gh),
                nominal_hashrate=bos.GigaHashrate(gigahash_per_second=ideal),
            ),
            power_stats=bos.MinerPowerStats(
                approximated_consumption=bos.Power(watt=watts),
                efficiency=bos.PowerEfficiency(
                    joule_per_terahash=round(watts / (gh / 1000.0), 2) if gh > 0 else 0.0
                ),
            ),
        )

    def _get_miner_stats(
        self, i: int, q: bos.GetMinerStatsRequest, r: RigReading
    ) -> bos.GetMinerStatsResponse:
        return self._stats_reply(i, self._stats_view(i, r))

    def _hashboards_view(self, i: int, r: RigReading) -> tuple[Any, ...]:
        m = self.fleet.rigs[i].model
        mhz = round(m.nominal_mhz * r.clock * r.derate, 1)
        return tuple(
            (ok, round(gh, 3), round(chip + 2.0, 1), round(pcb, 1), mhz if ok else 0.0)
            for ok, gh, (chip, pcb) in zip(
                r.boards_ok, chain_rates_gh(r), board_temps(r), strict=True
            )
        )

    def _hashboards_reply(self, i: int, view: tuple[Any, ...]) -> bos.GetHashboardsResponse:
        m = self.fleet.rigs[i].model
        return bos.GetHashboardsResponse(
            hashboards=[
                bos.Hashboard(
                    id=str(b + 1),
                    enabled=True,
                    chips_count=m.chips_per_board if ok else 0,
                    current_frequency=bos.Frequency(hertz=mhz * 1e6),
                    highest_chip_temp=bos.TemperatureSensor(
                        location=bos.SensorLocation.CHIP,
                        temperature=bos.Temperature(degree_c=chip),
                    ),
                    board_temp=bos.Temperature(degree_c=pcb),
                    stats=bos.WorkSolverStats(real_hashrate=_real_hashrate(gh)),
                    model=m.luxos_type,
                )
                for b, (ok, gh, chip, pcb, mhz) in enumerate(view)
            ]
        )

    def _get_hashboards(
        self, i: int, q: bos.GetHashboardsRequest, r: RigReading
    ) -> bos.GetHashboardsResponse:
        return self._hashboards_reply(i, self._hashboards_view(i, r))

    # ------------------------------------------------------------------ cooling

    def _get_cooling_state(
        self, i: int, q: bos.GetCoolingStateRequest, r: RigReading
    ) -> bos.GetCoolingStateResponse:
        m = self.fleet.rigs[i].model
        fans = [
            bos.FanState(
                position=k,
                rpm=r.fan_rpm if k < r.fans_ok else 0,
                target_speed_ratio=round(r.fan_fraction, 3),
            )
            for k in range(m.fans)
        ]
        hottest = max(chip for chip, _ in board_temps(r))
        return bos.GetCoolingStateResponse(
            fans=fans,
            highest_temperature=bos.TemperatureSensor(
                location=bos.SensorLocation.CHIP,
                temperature=bos.Temperature(degree_c=round(hottest, 1)),
            ),
        )

    # ------------------------------------------------------------------ performance

    def _constraints(self, i: int) -> bos.PowerConstraints:
        lo, hi = self.fleet.rigs[i].model.watt_range()
        return bos.PowerConstraints(
            default=bos.Power(watt=self.default_target_w(i)),
            min=bos.Power(watt=lo),
            max=bos.Power(watt=hi),
        )

    def _set_target(self, i: int, watts: int, save: bos.SaveAction) -> bos.SetPowerTargetResponse:
        lo, hi = self.fleet.rigs[i].model.watt_range()
        if not lo <= watts <= hi:
            raise GRPCError(
                Status.INVALID_ARGUMENT,
                f"Power target {watts} W is out of range [{lo} W, {hi} W]",
            )
        fw = self.fleet.firmware(i)
        if save == bos.SaveAction.SAVE:
            fw.saved_target_w = watts
        else:
            fw.saved_target_w = None
            self._apply_target(i, watts)
        return bos.SetPowerTargetResponse(power_target=bos.Power(watt=watts))

    def _get_tuner_state(
        self, i: int, q: bos.GetTunerStateRequest, r: RigReading
    ) -> bos.GetTunerStateResponse:
        target = self.active_target_w(i)
        if not is_up(r):
            state = bos.TunerState.DISABLED
        elif r.state == RigState.RAMPING:
            state = bos.TunerState.TUNING
        else:
            state = bos.TunerState.STABLE
        m = self.fleet.rigs[i].model
        return bos.GetTunerStateResponse(
            overall_tuner_state=state,
            power_target_mode_state=bos.PowerTargetModeState(
                profile=bos.PowerTargetProfile(
                    target=bos.Power(watt=target),
                    measured_hashrate=bos.GigaHashrate(
                        gigahash_per_second=m.ths_at(r.clock_set) * 1000.0
                    ),
                    estimated_power_consumption=bos.Power(watt=round(m.watts_at(r.clock_set))),
                ),
                current_target=bos.Power(watt=target),
            ),
        )

    def _list_target_profiles(
        self, i: int, q: bos.ListTargetProfilesRequest, r: RigReading
    ) -> bos.ListTargetProfilesResponse:
        return bos.ListTargetProfilesResponse()

    def _set_default_power_target(
        self, i: int, q: bos.SetDefaultPowerTargetRequest, r: RigReading
    ) -> bos.SetPowerTargetResponse:
        return self._set_target(i, self.default_target_w(i), q.save_action)

    def _set_power_target(
        self, i: int, q: bos.SetPowerTargetRequest, r: RigReading
    ) -> bos.SetPowerTargetResponse:
        return self._set_target(i, int(q.power_target.watt), q.save_action)

    def _increment_power_target(
        self, i: int, q: bos.IncrementPowerTargetRequest, r: RigReading
    ) -> bos.SetPowerTargetResponse:
        watts = self.active_target_w(i) + int(q.power_target_increment.watt)
        return self._set_target(i, watts, q.save_action)

    def _decrement_power_target(
        self, i: int, q: bos.DecrementPowerTargetRequest, r: RigReading
    ) -> bos.SetPowerTargetResponse:
        watts = self.active_target_w(i) - int(q.power_target_decrement.watt)
        return self._set_target(i, watts, q.save_action)

    def _set_performance_mode(
        self, i: int, q: bos.SetPerformanceModeRequest, r: RigReading
    ) -> bos.PerformanceMode:
        _, tuner = betterproto.which_one_of(q.mode, "mode")
        target = betterproto.which_one_of(tuner, "target")[1] if tuner is not None else None
        if not isinstance(target, bos.PowerTargetMode):
            raise GRPCError(Status.UNIMPLEMENTED, "Only the power target tuner mode is emulated")
        self._set_target(i, int(target.power_target.watt), q.save_action)
        return self._active_mode(i)

    def _active_mode(self, i: int) -> bos.PerformanceMode:
        return bos.PerformanceMode(
            tuner_mode=bos.TunerPerformanceMode(
                power_target=bos.PowerTargetMode(
                    power_target=bos.Power(watt=self.active_target_w(i))
                )
            )
        )

    def _get_active_performance_mode(
        self, i: int, q: bos.GetPerformanceModeRequest, r: RigReading
    ) -> bos.PerformanceMode:
        return self._active_mode(i)

    # ------------------------------------------------------------------ pools, configuration

    def _pool_groups(self, i: int) -> list[bos.PoolGroupConfiguration]:
        pool = self.fleet.pool_status(i)
        return [
            bos.PoolGroupConfiguration(
                uid="0",
                name="Default",
                quota=bos.Quota(value=1),
                pools=[
                    bos.PoolConfiguration(
                        uid="0", url=pool.url, user=pool.user, password="x", enabled=True
                    )
                ],
            )
        ]

    def _get_pool_groups(
        self, i: int, q: bos.GetPoolGroupsRequest, r: RigReading
    ) -> bos.GetPoolGroupsResponse:
        pool = self.fleet.pool_status(i)
        return bos.GetPoolGroupsResponse(
            pool_groups=[
                bos.PoolGroup(
                    name="Default",
                    quota=bos.Quota(value=1),
                    pools=[
                        bos.Pool(
                            uid="0",
                            url=pool.url,
                            user=pool.user,
                            enabled=True,
                            alive=pool.alive,
                            active=pool.stratum_active,
                            stats=bos.PoolStats(
                                accepted_shares=pool.accepted,
                                rejected_shares=pool.rejected,
                                stale_shares=pool.stale,
                            ),
                        )
                    ],
                )
            ]
        )

    def _get_miner_configuration(
        self, i: int, q: bos.GetMinerConfigurationRequest, r: RigReading
    ) -> bos.GetMinerConfigurationResponse:
        m = self.fleet.rigs[i].model
        return bos.GetMinerConfigurationResponse(
            pool_groups=self._pool_groups(i),
            temperature=bos.CoolingConfiguration(
                minimum_required_fans=m.fans,
                auto=bos.CoolingAutoMode(
                    target_temperature=bos.Temperature(degree_c=m.target_c),
                    hot_temperature=bos.Temperature(degree_c=m.hot_c),
                    dangerous_temperature=bos.Temperature(degree_c=m.danger_c),
                ),
            ),
            tuner=bos.TunerConfiguration(
                enabled=True,
                tuner_mode=bos.TunerMode.POWER_TARGET,
                power_target=bos.Power(watt=self.saved_target_w(i)),
            ),
            dps=bos.DpsConfiguration(enabled=False),
        )

    def _get_constraints(
        self, i: int, q: bos.GetConstraintsRequest, r: RigReading
    ) -> bos.GetConstraintsResponse:
        return bos.GetConstraintsResponse(
            tuner_constraints=bos.TunerConstraints(
                power_target=self._constraints(i),
                enabled=bos.BooleanConstraint(default=True),
                default_mode=bos.TunerMode.POWER_TARGET,
            )
        )

    def _get_license_state(
        self, i: int, q: bos.GetLicenseStateRequest, r: RigReading
    ) -> bos.GetLicenseStateResponse:
        return bos.GetLicenseStateResponse(
            valid=bos.ValidLicense(type=bos.LicenseType.STANDARD, contract_name="standard")
        )


def _real_hashrate(gh: float) -> bos.RealHashrate:
    """Every window of RealHashrate at the rate now (rigsim reports instantaneous rates)."""
    rate = round(gh, 3)
    return bos.RealHashrate(
        **{
            name: bos.GigaHashrate(gigahash_per_second=rate)
            for name in ("last_5_s", "last_15_s", "last_30_s", "last_1_m", "last_5_m",
                         "last_15_m", "last_30_m", "last_1_h", "last_24_h", "since_restart")
        }
    )  # fmt: skip


V1 = "/braiins.bos.v1."
# The v1 methods served, "Service/Name" -> who may call. Each is the core method
# name_in_snake_case, called with bos.<Name>Request and answered with bos.<Name>Response,
# but where _CORE_NAMES, _REQUESTS or _REPLIES name another.
_V1_ACCESS = {
    "ActionsService/Start": AUTH,
    "ActionsService/Stop": AUTH,
    "ActionsService/PauseMining": MINER,
    "ActionsService/ResumeMining": MINER,
    "ActionsService/Restart": AUTH,
    "ActionsService/Reboot": AUTH,
    "ActionsService/SetLocateDeviceStatus": AUTH,
    "ActionsService/GetLocateDeviceStatus": AUTH,
    "CoolingService/GetCoolingState": MINER,
    "PerformanceService/GetTunerState": MINER,
    "PerformanceService/ListTargetProfiles": MINER,
    "PerformanceService/SetDefaultPowerTarget": MINER,
    "PerformanceService/SetPowerTarget": MINER,
    "PerformanceService/IncrementPowerTarget": MINER,
    "PerformanceService/DecrementPowerTarget": MINER,
    "PerformanceService/SetPerformanceMode": MINER,
    "PerformanceService/GetActivePerformanceMode": MINER,
    "PoolService/GetPoolGroups": MINER,
    "ConfigurationService/GetMinerConfiguration": AUTH,
    "ConfigurationService/GetConstraints": AUTH,
    "LicenseService/GetLicenseState": AUTH,
    "MinerService/GetMinerStatus": AUTH,
    "MinerService/GetMinerDetails": AUTH,
    "MinerService/GetMinerStats": MINER,
    "MinerService/GetHashboards": MINER,
}
_CORE_NAMES = {"Start": "start_mining"}
_REQUESTS = {"GetActivePerformanceMode": bos.GetPerformanceModeRequest}
_REPLIES = {
    "SetLocateDeviceStatus": bos.LocateDeviceStatusResponse,
    "GetLocateDeviceStatus": bos.LocateDeviceStatusResponse,
    "SetDefaultPowerTarget": bos.SetPowerTargetResponse,
    "IncrementPowerTarget": bos.SetPowerTargetResponse,
    "DecrementPowerTarget": bos.SetPowerTargetResponse,
    "SetPerformanceMode": bos.PerformanceMode,
    "GetActivePerformanceMode": bos.PerformanceMode,
}
Method = tuple[str, type[betterproto.Message], type[betterproto.Message], int]


def _v1_method(name: str, access: int) -> Method:
    core = _CORE_NAMES.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    request = _REQUESTS.get(name) or getattr(bos, f"{name}Request")
    reply = _REPLIES.get(name) or getattr(bos, f"{name}Response")
    return core, request, reply, access


# gRPC path -> (core method, request type, reply type, who may call)
METHODS: dict[str, Method] = {
    "/braiins.bos.ApiVersionService/GetApiVersion": (
        "get_api_version", ApiVersionRequest, ApiVersion, PUBLIC),
    **{V1 + path: _v1_method(path.partition("/")[2], access)
       for path, access in _V1_ACCESS.items()},
}  # fmt: skip
METHODS_BY_NAME = {name: access for name, _, _, access in METHODS.values()}
# core methods answered from a memo: (view, reply builder)
_MEMOISED = {
    "get_hashboards": ("_hashboards_view", "_hashboards_reply"),
    "get_miner_stats": ("_stats_view", "_stats_reply"),
}
