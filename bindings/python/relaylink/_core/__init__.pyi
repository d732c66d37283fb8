"""
relaylink's compiled core; use the relaylink package, which wraps it.
"""
from __future__ import annotations
import collections.abc
import datetime
import typing
from . import modbus
__all__: list[str] = ['AckEvent', 'AuditEvent', 'ChirpStackClient', 'Command', 'CommandChange', 'Device', 'DeviceInfo', 'Downlink', 'EventSource', 'JoinEvent', 'LocationEvent', 'LogEvent', 'Meter', 'MeterChange', 'Profile', 'ProfileRegistry', 'QueueItem', 'RelayService', 'ReplyMatch', 'Simulator', 'StatusEvent', 'TxAckEvent', 'UnknownEvent', 'UpEvent', 'builtin_profiles', 'eastron_sdm320c', 'modbus', 'normalize_dev_eui', 'parse_event', 'profiles_from_json']
class Downlink:
    """
    What to enqueue: fPort, confirmed or not, and the Modbus RTU frame.
    """
    __hash__: typing.ClassVar[None] = None  # type: ignore[assignment]
    def __eq__(self, other: object) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def confirmed(self) -> bool:
        ...
    @property
    def fport(self) -> int:
        ...
    @property
    def payload(self) -> bytes:
        ...
class ReplyMatch:
    """
    Whether an uplink is the device's reply to a downlink.
    """
    def __bool__(self) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def kind(self) -> str:
        """
        'reply' (normal reply: for writes, the echo), 'exception' (a Modbus exception) or 'unrelated'.
        """
    @property
    def reason(self) -> str:
        ...
    @property
    def response(self) -> modbus.Response | None:
        ...
class Profile:
    """
    A meter model: its downlinks and how to read its replies.
    """
    __hash__: typing.ClassVar[None] = None  # type: ignore[assignment]
    def __eq__(self, other: object) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def answers_to(self, name: str) -> bool:
        ...
    def match_reply(self, sent: bytes | bytearray | memoryview, fport: typing.SupportsInt | typing.SupportsIndex, data: bytes | bytearray | memoryview) -> ReplyMatch:
        """
        Is the uplink (`fport`, `data`) the device's reply to the frame `sent`?
        """
    def read(self, measurement: str) -> Downlink:
        """
        The downlink that reads one measurement ('voltage', ...).
        """
    def read_relay_state(self) -> Downlink:
        ...
    def relay(self, on: bool) -> Downlink:
        """
        The downlink that switches the relay on (True) or off (False).
        """
    def relay_off(self) -> Downlink:
        ...
    def relay_on(self) -> Downlink:
        ...
    def relay_state_from(self, response: modbus.Response) -> bool | None:
        """
        True (closed), False (open) or None, from a read-back reply.
        """
    def to_json(self) -> str:
        """
        The profile as JSON, in the format from_json reads.
        """
    def value_of(self, measurement: str, response: modbus.Response) -> float:
        """
        The measurement's value (scaled) from its read reply.
        """
    @property
    def aliases(self) -> list[str]:
        ...
    @property
    def can_read_relay_state(self) -> bool:
        ...
    @property
    def completion(self) -> str:
        ...
    @property
    def confirmed(self) -> bool:
        ...
    @property
    def description(self) -> str:
        ...
    @property
    def fport(self) -> int:
        ...
    @property
    def measurements(self) -> dict[str, typing.Any]:
        """
        {name: unit} of what the meter can be asked for.
        """
    @property
    def name(self) -> str:
        ...
    @property
    def reply_fport(self) -> int | None:
        ...
    @property
    def slave(self) -> int:
        ...
    @property
    def uplink_interval(self) -> datetime.timedelta:
        ...
class ProfileRegistry:
    """
    Profiles by name or alias; starts with the built-ins.
    """
    def __contains__(self, arg0: str) -> bool:
        ...
    def __init__(self, builtins: bool = True) -> None:
        ...
    def __len__(self) -> int:
        ...
    def __repr__(self) -> str:
        ...
    def add(self, profile: Profile) -> None:
        """
        Add a profile, replacing one of the same name.
        """
    def all(self) -> list[Profile]:
        ...
    def copy(self) -> ProfileRegistry:
        ...
    def find(self, name: str) -> Profile | None:
        ...
    def get(self, name: str) -> Profile:
        ...
    def names(self) -> list[str]:
        ...
class QueueItem:
    """
    One item of a device's downlink queue.
    """
    def __repr__(self) -> str:
        ...
    @property
    def confirmed(self) -> bool:
        ...
    @property
    def data(self) -> bytes:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def expires_at(self) -> datetime.datetime | None:
        ...
    @property
    def f_cnt_down(self) -> int:
        ...
    @property
    def f_port(self) -> int:
        ...
    @property
    def id(self) -> str:
        ...
    @property
    def is_encrypted(self) -> bool:
        ...
    @property
    def is_pending(self) -> bool:
        ...
class Device:
    """
    A device as ChirpStack describes it (GET /api/devices/{devEui}).
    """
    def __repr__(self) -> str:
        ...
    @property
    def application_id(self) -> str:
        ...
    @property
    def battery_level(self) -> float | None:
        ...
    @property
    def class_enabled(self) -> str:
        ...
    @property
    def created_at(self) -> datetime.datetime | None:
        ...
    @property
    def description(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device_profile_id(self) -> str:
        ...
    @property
    def external_power_source(self) -> bool | None:
        ...
    @property
    def is_disabled(self) -> bool:
        ...
    @property
    def join_eui(self) -> str:
        ...
    @property
    def last_seen_at(self) -> datetime.datetime | None:
        ...
    @property
    def margin(self) -> int | None:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def skip_fcnt_check(self) -> bool:
        ...
    @property
    def tags(self) -> dict[str, str]:
        ...
    @property
    def updated_at(self) -> datetime.datetime | None:
        ...
    @property
    def variables(self) -> dict[str, str]:
        ...
class ChirpStackClient:
    """
    ChirpStack v4 REST client: keep-alive connections, arguments checked before sending, idempotent calls retried on transient errors. Blocking calls release the GIL; each has an `_async` twin returning an awaitable for asyncio. Failures raise ChirpStackError.
    """
    def __enter__(self) -> ChirpStackClient:
        ...
    def __exit__(self, *args: typing.Any) -> None:
        ...
    def __init__(self, *, url: str = 'http://localhost:8090', api_key: str = '', tenant_id: str = '', passthrough_port: typing.SupportsInt | typing.SupportsIndex = 5, auth_header: str = 'grpc-metadata', connect_timeout: float | datetime.timedelta = 5.0, request_timeout: float | datetime.timedelta = 10.0, idle_timeout: float | datetime.timedelta = 30.0, pool_size: typing.SupportsInt | typing.SupportsIndex = 8, max_attempts: typing.SupportsInt | typing.SupportsIndex = 3, verify_tls: bool = True, ca_file: str = '', headers: collections.abc.Mapping[str, str] = {}, user_agent: str = 'relaylink-python/0.1', retry_timeouts: bool = True) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def close(self) -> None:
        """
        Close the connections and stop the client's thread. Idempotent.
        """
    def enqueue(self, dev_eui: str, data: bytes | bytearray | memoryview, *, f_port: typing.SupportsInt | typing.SupportsIndex | None = None, confirmed: bool = False, expires_at: datetime.datetime | None = None, flush_queue: bool = False) -> str:
        """
        Queue a downlink (never retried: see ChirpStackError.request_sent); returns ChirpStack's queue item id. f_port defaults to the pass-through port.
        """
    def enqueue_async(self, dev_eui: str, data: bytes | bytearray | memoryview, *, f_port: typing.SupportsInt | typing.SupportsIndex | None = None, confirmed: bool = False, expires_at: datetime.datetime | None = None, flush_queue: bool = False) -> typing.Awaitable[str]:
        ...
    def flush_queue(self, dev_eui: str) -> None:
        ...
    def flush_queue_async(self, dev_eui: str) -> typing.Awaitable[None]:
        ...
    def get_device(self, dev_eui: str) -> Device:
        ...
    def get_device_async(self, dev_eui: str) -> typing.Awaitable[Device]:
        ...
    def get_next_f_cnt_down(self, dev_eui: str) -> int:
        ...
    def get_next_f_cnt_down_async(self, dev_eui: str) -> typing.Awaitable[int]:
        ...
    def get_queue(self, dev_eui: str) -> list[QueueItem]:
        ...
    def get_queue_async(self, dev_eui: str) -> typing.Awaitable[list[QueueItem]]:
        ...
    def request(self, method: str, path: str, body: typing.Any = None) -> typing.Any:
        """
        Any REST call ('GET', '/api/applications?limit=10'), JSON in and out.
        """
    def request_async(self, method: str, path: str, body: typing.Any = None) -> typing.Awaitable[typing.Any]:
        ...
    def stats(self) -> dict[str, typing.Any]:
        """
        Counters: requests, connections_opened, connections_reused, retries, stale_discarded.
        """
    @property
    def closed(self) -> bool:
        ...
    @property
    def has_api_key(self) -> bool:
        ...
    @property
    def passthrough_port(self) -> int:
        ...
    @property
    def tenant_id(self) -> str:
        ...
    @property
    def url(self) -> str:
        ...
class DeviceInfo:
    """
    The deviceInfo every event carries.
    """
    def __repr__(self) -> str:
        ...
    @property
    def application_id(self) -> str:
        ...
    @property
    def application_name(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device_class_enabled(self) -> str:
        ...
    @property
    def device_name(self) -> str:
        ...
    @property
    def device_profile_id(self) -> str:
        ...
    @property
    def device_profile_name(self) -> str:
        ...
    @property
    def tags(self) -> dict[str, str]:
        ...
    @property
    def tenant_id(self) -> str:
        ...
    @property
    def tenant_name(self) -> str:
        ...
class UpEvent:
    """
    An uplink: for a UC100 on the pass-through port, the meter's raw RTU reply.
    """
    def __repr__(self) -> str:
        ...
    @property
    def adr(self) -> bool:
        ...
    @property
    def confirmed(self) -> bool:
        ...
    @property
    def data(self) -> bytes:
        ...
    @property
    def deduplication_id(self) -> str:
        ...
    @property
    def dev_addr(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device(self) -> DeviceInfo:
        ...
    @property
    def dr(self) -> int:
        ...
    @property
    def f_cnt(self) -> int:
        ...
    @property
    def f_port(self) -> int:
        ...
    @property
    def gateway_id(self) -> str:
        ...
    @property
    def gateways(self) -> int:
        ...
    @property
    def rssi(self) -> int | None:
        ...
    @property
    def snr(self) -> float | None:
        ...
    @property
    def time(self) -> datetime.datetime | None:
        ...
    @property
    def type(self) -> str:
        ...
class AckEvent:
    """
    The device's answer to a confirmed downlink.
    """
    def __repr__(self) -> str:
        ...
    @property
    def acknowledged(self) -> bool:
        ...
    @property
    def deduplication_id(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device(self) -> DeviceInfo:
        ...
    @property
    def f_cnt_down(self) -> int:
        ...
    @property
    def queue_item_id(self) -> str:
        ...
    @property
    def time(self) -> datetime.datetime | None:
        ...
    @property
    def type(self) -> str:
        ...
class TxAckEvent:
    """
    A gateway accepted the downlink for transmission.
    """
    def __repr__(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device(self) -> DeviceInfo:
        ...
    @property
    def downlink_id(self) -> int:
        ...
    @property
    def f_cnt_down(self) -> int:
        ...
    @property
    def gateway_id(self) -> str:
        ...
    @property
    def queue_item_id(self) -> str:
        ...
    @property
    def time(self) -> datetime.datetime | None:
        ...
    @property
    def type(self) -> str:
        ...
class LogEvent:
    """
    ChirpStack's log for a device (EXPIRED, DOWNLINK_PAYLOAD_SIZE, ...).
    """
    def __repr__(self) -> str:
        ...
    @property
    def code(self) -> str:
        ...
    @property
    def context(self) -> dict[str, str]:
        ...
    @property
    def description(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device(self) -> DeviceInfo:
        ...
    @property
    def level(self) -> str:
        ...
    @property
    def queue_item_id(self) -> str | None:
        ...
    @property
    def time(self) -> datetime.datetime | None:
        ...
    @property
    def type(self) -> str:
        ...
class StatusEvent:
    """
    The device's status (margin, battery).
    """
    def __repr__(self) -> str:
        ...
    @property
    def battery_level(self) -> float | None:
        ...
    @property
    def deduplication_id(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device(self) -> DeviceInfo:
        ...
    @property
    def external_power_source(self) -> bool:
        ...
    @property
    def margin(self) -> int:
        ...
    @property
    def time(self) -> datetime.datetime | None:
        ...
    @property
    def type(self) -> str:
        ...
class JoinEvent:
    """
    The device (re)joined.
    """
    def __repr__(self) -> str:
        ...
    @property
    def deduplication_id(self) -> str:
        ...
    @property
    def dev_addr(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device(self) -> DeviceInfo:
        ...
    @property
    def time(self) -> datetime.datetime | None:
        ...
    @property
    def type(self) -> str:
        ...
class LocationEvent:
    """
    A location fix.
    """
    def __repr__(self) -> str:
        ...
    @property
    def accuracy(self) -> float:
        ...
    @property
    def altitude(self) -> float:
        ...
    @property
    def deduplication_id(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device(self) -> DeviceInfo:
        ...
    @property
    def latitude(self) -> float:
        ...
    @property
    def longitude(self) -> float:
        ...
    @property
    def source(self) -> str:
        ...
    @property
    def time(self) -> datetime.datetime | None:
        ...
    @property
    def type(self) -> str:
        ...
class UnknownEvent:
    """
    An event type relaylink does not know (not an error).
    """
    def __repr__(self) -> str:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def device(self) -> DeviceInfo | None:
        ...
    @property
    def time(self) -> None:
        ...
    @property
    def type(self) -> str:
        ...
class AuditEvent:
    """
    One line of a command's audit trail.
    """
    def __repr__(self) -> str:
        ...
    def to_dict(self) -> dict[str, typing.Any]:
        ...
    @property
    def actor(self) -> str:
        ...
    @property
    def at(self) -> datetime.datetime | None:
        ...
    @property
    def cause(self) -> str:
        ...
    @property
    def command_id(self) -> int:
        ...
    @property
    def detail(self) -> str:
        ...
    @property
    def from_state(self) -> str | None:
        ...
    @property
    def sequence(self) -> int:
        ...
    @property
    def to_state(self) -> str:
        ...
class Command:
    """
    A relay command and where it is. `events` is its audit trail when fetched with RelayService.command().
    """
    def __repr__(self) -> str:
        ...
    def to_dict(self) -> dict[str, typing.Any]:
        """
        The command as JSON-ready data (camelCase keys, as relayctl --json prints it).
        """
    @property
    def claim_owner(self) -> str:
        """
        While dispatching: the service instance that claimed it (RelayService(instance=...)).
        """
    @property
    def completed_at(self) -> datetime.datetime | None:
        ...
    @property
    def confirmed(self) -> bool:
        ...
    @property
    def created_at(self) -> datetime.datetime | None:
        ...
    @property
    def created_by(self) -> str:
        ...
    @property
    def deadline(self) -> datetime.datetime | None:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def error(self) -> str:
        ...
    @property
    def events(self) -> list[AuditEvent] | None:
        ...
    @property
    def evidence(self) -> str:
        ...
    @property
    def f_cnt_down(self) -> int | None:
        ...
    @property
    def f_port(self) -> int:
        ...
    @property
    def id(self) -> int:
        ...
    @property
    def idempotency_key(self) -> str:
        ...
    @property
    def kind(self) -> str:
        ...
    @property
    def lease_until(self) -> datetime.datetime | None:
        """
        While dispatching: when the claim's lease ends and any instance may reconcile it.
        """
    @property
    def max_retries(self) -> int:
        ...
    @property
    def meter_id(self) -> int | None:
        """
        The portal's meters.id given with the request (None: not given).
        """
    @property
    def meter_ref(self) -> str:
        ...
    @property
    def next_attempt_at(self) -> datetime.datetime | None:
        ...
    @property
    def not_before(self) -> datetime.datetime | None:
        ...
    @property
    def note(self) -> str:
        ...
    @property
    def payload(self) -> bytes:
        ...
    @property
    def portal_row_id(self) -> int | None:
        """
        Its row in the portal's command table (device_commands.id), when the store keeps one.
        """
    @property
    def portal_status(self) -> str:
        """
        The state in the portal's device_commands vocabulary (pending, queued, sent, completed, failed, cancelled).
        """
    @property
    def priority(self) -> int:
        ...
    @property
    def profile(self) -> str:
        ...
    @property
    def queue_item_id(self) -> str:
        ...
    @property
    def reason(self) -> str:
        ...
    @property
    def retry_count(self) -> int:
        ...
    @property
    def sent_at(self) -> datetime.datetime | None:
        ...
    @property
    def state(self) -> str:
        ...
    @property
    def terminal(self) -> bool:
        ...
    @property
    def updated_at(self) -> datetime.datetime | None:
        ...
    @property
    def user_id(self) -> int | None:
        """
        The portal's users.id of who asked (None: not given).
        """
    @property
    def version(self) -> int:
        ...
class Meter:
    """
    A meter as relaylink knows it: its relay state and last uplink.
    """
    def __repr__(self) -> str:
        ...
    def to_dict(self) -> dict[str, typing.Any]:
        ...
    @property
    def dev_eui(self) -> str:
        ...
    @property
    def disconnect_sent_at(self) -> datetime.datetime | None:
        ...
    @property
    def last_confirmed_command(self) -> int:
        ...
    @property
    def last_uplink(self) -> datetime.datetime | None:
        ...
    @property
    def meter_ref(self) -> str:
        ...
    @property
    def note(self) -> str:
        ...
    @property
    def profile(self) -> str:
        ...
    @property
    def relay_state(self) -> str:
        """
        'unknown', 'connected', 'disconnected' or 'unreachable_after_disconnect'.
        """
    @property
    def updated_at(self) -> datetime.datetime | None:
        ...
class CommandChange:
    """
    What a command subscriber receives.
    """
    def __repr__(self) -> str:
        ...
    @property
    def cause(self) -> str:
        ...
    @property
    def command(self) -> Command:
        ...
    @property
    def from_state(self) -> str | None:
        """
        The state before, or None for a new command.
        """
    @property
    def to_state(self) -> str:
        ...
class MeterChange:
    """
    What a meter subscriber receives.
    """
    @property
    def from_state(self) -> str:
        ...
    @property
    def meter(self) -> Meter:
        ...
    @property
    def to_state(self) -> str:
        ...
class EventSource:
    """
    A running event source feeding a RelayService.
    """
    def stats(self) -> dict[str, typing.Any]:
        ...
    def stop(self) -> None:
        ...
    def wait_connected(self, timeout: float | datetime.timedelta = 10.0) -> bool:
        """
        MQTT: until connected and subscribed; False on timeout.
        """
    @property
    def connected(self) -> bool:
        ...
    @property
    def kind(self) -> str:
        ...
    @property
    def last_error(self) -> str:
        ...
    @property
    def port(self) -> int | None:
        ...
    @property
    def running(self) -> bool:
        """
        False once its RelayService has closed.
        """
    @property
    def url(self) -> str:
        ...
class RelayService:
    """
    Relay commands with a lifecycle: safety guard, dispatch to ChirpStack, events, retries, expiry, cancellation, idempotency and an audit trail, in a SQLite file, a PostgreSQL schema (db='postgresql://…') or memory (':memory:').
    """
    def __enter__(self) -> RelayService:
        ...
    def __exit__(self, *args: typing.Any) -> None:
        ...
    def __init__(self, client: ChirpStackClient, *, db: str = 'relaylink.db', profiles: ProfileRegistry | None = None, safety: dict[typing.Any, typing.Any] = {}, max_retries: typing.SupportsInt | typing.SupportsIndex = 3, initial_backoff: float | datetime.timedelta = 30.0, max_backoff: float | datetime.timedelta = 900.0, reply_timeout_intervals: typing.SupportsInt | typing.SupportsIndex = 3, default_deadline: float | datetime.timedelta = 86400.0, max_in_flight: typing.SupportsInt | typing.SupportsIndex = 8, tick: float | datetime.timedelta = 0.2, simulator: Simulator | None = None, postgres: dict[typing.Any, typing.Any] = {}, instance: str = '', claim_timeout: float | datetime.timedelta = 120.0, table_prefix: str = '', portal_table: typing.Any = None, max_batch: typing.SupportsInt | typing.SupportsIndex = 512, unreachable_after_intervals: typing.SupportsInt | typing.SupportsIndex = 3) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def bulk(self, action: str, dev_euis: collections.abc.Sequence[str], *, profile: str = '', actor: str = 'system', reason: str = '', idempotency_prefix: str = '', priority: typing.SupportsInt | typing.SupportsIndex = 5, not_before: datetime.datetime | None = None, deadline: datetime.datetime | None = None) -> list[Command]:
        """
        Disconnect or reconnect many meters in one call (one GIL release). Every DevEUI is checked first. With idempotency_prefix, each command's key is '<prefix>:<devEui>', so running the same bulk twice creates nothing new.
        """
    def cancel(self, command_id: typing.SupportsInt | typing.SupportsIndex, *, actor: str = 'system', reason: str = '') -> Command | None:
        """
        Cancel: locally when not yet sent, by flushing the device queue when queued. None when unknown; a command already on the radio is not cancelled (its audit trail says so).
        """
    def close(self, *, timeout: float | datetime.timedelta = 5.0) -> None:
        """
        Stop the service, its event sources and the store. Nothing new is sent; ChirpStack calls in flight get up to `timeout` seconds to finish and be recorded (a call still unanswered then is left to its claim's lease, see docs/processes.md). Idempotent.
        """
    def command(self, command_id: typing.SupportsInt | typing.SupportsIndex) -> Command | None:
        """
        The command with its audit trail (`events`), or None.
        """
    def counts(self) -> dict[str, typing.Any]:
        """
        How many commands are in each state.
        """
    def disconnect(self, dev_eui: str, *, profile: str = '', meter_ref: str = '', actor: str = 'system', reason: str = '', idempotency_key: str = '', priority: typing.SupportsInt | typing.SupportsIndex = 5, not_before: datetime.datetime | None = None, deadline: datetime.datetime | None = None, meter_id: typing.Any = None, user_id: typing.Any = None) -> Command:
        """
        Relay off, through the safety guard. Returns the command at once: pending, deferred (pending with not_before), refused (failed, with the reason in `error`), or the one already in flight it duplicates.
        """
    def history(self, dev_eui: str, limit: typing.SupportsInt | typing.SupportsIndex = 100) -> list[Command]:
        """
        A meter's commands, newest first.
        """
    @typing.overload
    def ingest(self, event: UpEvent | AckEvent | TxAckEvent | LogEvent | StatusEvent | JoinEvent | LocationEvent | UnknownEvent) -> None:
        """
        Apply one event now (an event from parse_event).
        """
    @typing.overload
    def ingest(self, event_type: str, payload: str | bytes | bytearray | memoryview) -> None:
        """
        Apply one event from ChirpStack's JSON (EventError when unreadable).
        """
    def ingest_batch(self, events: collections.abc.Sequence[typing.Any]) -> int:
        """
        Apply many events at once: each an event from parse_event or a pair (event_type, payload) of ChirpStack's JSON, committed in transactions of max_batch (PostgreSQL: a few round trips each). An unreadable item raises EventError (its `index`) before anything is applied. Returns how many were applied.
        """
    def listen_mqtt(self, url: str, *, topic: str = 'application/+/device/+/event/+', client_id: str = '', shared_group: str = '', qos: typing.SupportsInt | typing.SupportsIndex = 1, clean_session: bool = False, username: str = '', password: str = '', ca_file: str = '', cert_file: str = '', key_file: str = '', verify: bool = True, max_pending: typing.SupportsInt | typing.SupportsIndex = 4096) -> EventSource:
        """
        Feed the service from ChirpStack's MQTT integration (QoS 1; reconnects by itself). With a client_id you name (unique to this process, stable across restarts) the session is persistent unless clean_session; without one, a name unique to this process and a clean session. ChirpStack must publish at QoS 1 too (qos = 1 under [integration.mqtt]) for events published while relaylink is away to be kept. Returns at once; EventSource.wait_connected() waits for the subscription.
        """
    def meter(self, dev_eui: str) -> Meter | None:
        ...
    def meters(self, relay_state: str | None = None) -> list[Meter]:
        ...
    def open_commands(self) -> list[Command]:
        ...
    def poll(self) -> None:
        """
        Run what is due now (the service's timer does this every `tick`).
        """
    def post(self, event: UpEvent | AckEvent | TxAckEvent | LogEvent | StatusEvent | JoinEvent | LocationEvent | UnknownEvent) -> None:
        """
        Queue an event: the service commits queued events in batches on its thread.
        """
    def reconnect(self, dev_eui: str, *, profile: str = '', meter_ref: str = '', actor: str = 'system', reason: str = '', idempotency_key: str = '', priority: typing.SupportsInt | typing.SupportsIndex = 5, not_before: datetime.datetime | None = None, deadline: datetime.datetime | None = None, meter_id: typing.Any = None, user_id: typing.Any = None) -> Command:
        """
        Relay on; never blocked by the safety guard.
        """
    def send(self, dev_eui: str, kind: str, *, payload: bytes | bytearray | memoryview | None = None, f_port: typing.SupportsInt | typing.SupportsIndex | None = None, profile: str = '', meter_ref: str = '', actor: str = 'system', reason: str = '', idempotency_key: str = '', priority: typing.SupportsInt | typing.SupportsIndex = 5, not_before: datetime.datetime | None = None, deadline: datetime.datetime | None = None, meter_id: typing.Any = None, user_id: typing.Any = None) -> Command:
        """
        Any intent: 'relay_off', 'relay_on', 'read' (the relay state, when the profile can) or 'raw' (payload on f_port).
        """
    def serve_http_integration(self, *, address: str = '127.0.0.1', port: typing.SupportsInt | typing.SupportsIndex = 0, path: str = '/', secret: str = '', secret_header: str = 'X-Relaylink-Secret', max_pending: typing.SupportsInt | typing.SupportsIndex = 10000) -> EventSource:
        """
        Serve ChirpStack's HTTP integration (POST <path>?event=...) and feed the service. Returns the EventSource (its url and port). While the service holds max_pending events not yet committed (the store is slow or failing) an event is answered 503 with Retry-After, never waited for (stats()['full'] counts them).
        """
    def stats(self) -> dict[str, typing.Any]:
        ...
    def subscribe(self, callback: collections.abc.Callable[..., None], *, what: str = 'commands') -> int:
        """
        callback(CommandChange) for every command change (or MeterChange with what='meters'), called on the service's thread without its lock. Returns a token for unsubscribe(). An exception in the callback is logged.
        """
    def track_meter(self, dev_eui: str, *, profile: str = '', meter_ref: str = '') -> Meter:
        """
        Keep a meter for this device before any command: its last uplink and relay state. relaylink keeps meters only for devices it was commanded or told to track; uplinks of others leave nothing (stats()['uplinks_untracked']). RequestError for a bad DevEUI, an unknown profile or a bad reference.
        """
    def unsubscribe(self, token: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def wait(self, command_id: typing.SupportsInt | typing.SupportsIndex, *, states: collections.abc.Sequence[str] | None = None, timeout: float | datetime.timedelta = 60.0) -> Command:
        """
        Block (without the GIL) until the command reaches one of `states` (default: any terminal state) or the timeout passes; returns the command as it is then, with its audit trail.
        """
    @property
    def closed(self) -> bool:
        ...
    @property
    def db(self) -> str:
        ...
    @property
    def pending_events(self) -> int:
        ...
class Simulator:
    """
    A ChirpStack v4 REST API with simulated Class A devices behind it, on 127.0.0.1. Time runs `speed` times faster than real time (or only through advance() with manual_time=True). Use it as a context manager; url and api_key are what a ChirpStackClient needs.
    """
    def __enter__(self) -> Simulator:
        ...
    def __exit__(self, *args: typing.Any) -> None:
        ...
    def __init__(self, *, address: str = '127.0.0.1', port: typing.SupportsInt | typing.SupportsIndex = 0, api_key: str = 'relaylink-sim-key', speed: typing.SupportsFloat | typing.SupportsIndex = 600.0, manual_time: bool = False, seed: typing.SupportsInt | typing.SupportsIndex = 1, integration_url: str = '', integration_headers: collections.abc.Mapping[str, str] = {}, mqtt_url: str = '', mqtt_qos: typing.SupportsInt | typing.SupportsIndex = 0, event_order: str = 'observed') -> None:
        ...
    def __repr__(self) -> str:
        ...
    def add_device(self, dev_eui: str, *, kind: str = 'uc100_sdm320c', name: str = '', passthrough_port: typing.SupportsInt | typing.SupportsIndex = 5, slave: typing.SupportsInt | typing.SupportsIndex = 1, wiring: str = 'line_side', uplink_interval: float | datetime.timedelta = 600.0, jitter: typing.SupportsFloat | typing.SupportsIndex = 0.1, data_rate: typing.SupportsInt | typing.SupportsIndex = 5, relay_closed: bool = True, uplink_loss: typing.SupportsFloat | typing.SupportsIndex = 0.0, downlink_loss: typing.SupportsFloat | typing.SupportsIndex = 0.0, gateway_tx_error: typing.SupportsFloat | typing.SupportsIndex = 0.0, reply_delay: float | datetime.timedelta = 2.0, application_id: str = '', device_profile_id: str = '') -> None:
        """
        Add (or replace) a device. kind: 'uc100_sdm320c' (a UC100 bridge to an SDM320C) or 'ivy_em114039'. Times are simulated seconds (or timedelta).
        """
    def advance(self, duration: float | datetime.timedelta) -> None:
        """
        Manual time: move the clock (seconds or timedelta), running what becomes due.
        """
    def device(self, dev_eui: str) -> dict[str, typing.Any] | None:
        """
        The device as the simulator sees it (relay, counters, queue, every downlink it received), or None.
        """
    def device_euis(self) -> list[str]:
        ...
    def join(self, dev_eui: str, *, flush_queue: bool = True) -> bool:
        """
        An OTAA rejoin. flush_queue: the device profile's 'flush queue on activate' (ChirpStack's UI default): the queue is deleted silently and only a join event is published.
        """
    def now(self) -> datetime.datetime:
        """
        Simulated time (an aware datetime).
        """
    def on_event(self, callback: collections.abc.Callable[[str, str, str], None]) -> None:
        """
        callback(event_type, dev_eui, payload_json) for every event, as ChirpStack would publish it (called on the simulator's thread).
        """
    def remove_device(self, dev_eui: str) -> bool:
        ...
    def reset(self) -> None:
        ...
    def restore_power(self, dev_eui: str) -> bool:
        """
        Power restored on site (a load-side bridge talks again).
        """
    def set_faults(self, dev_eui: str, *, uplink_loss: typing.SupportsFloat | typing.SupportsIndex = 0.0, downlink_loss: typing.SupportsFloat | typing.SupportsIndex = 0.0, gateway_tx_error: typing.SupportsFloat | typing.SupportsIndex = 0.0, reply_delay: float | datetime.timedelta = 2.0) -> bool:
        ...
    def set_http_faults(self, *, error_5xx_rate: typing.SupportsFloat | typing.SupportsIndex = 0.0, error_500_rate: typing.SupportsFloat | typing.SupportsIndex = 0.0, rate_limit_rate: typing.SupportsFloat | typing.SupportsIndex = 0.0, refuse_rate: typing.SupportsFloat | typing.SupportsIndex = 0.0, drop_rate: typing.SupportsFloat | typing.SupportsIndex = 0.0, lost_response_rate: typing.SupportsFloat | typing.SupportsIndex = 0.0, garbled_rate: typing.SupportsFloat | typing.SupportsIndex = 0.0, slow_rate: typing.SupportsFloat | typing.SupportsIndex = 0.0, slow_latency: float | datetime.timedelta = 2.0, latency: float | datetime.timedelta = 0.0, only_method: str = '') -> None:
        """
        Make the REST API flaky: each request suffers at most one fault, drawn from these probabilities (their sum at most 1). drop/503/500/429/400 leave ChirpStack untouched; lost_response, garbled (a 200 that is not JSON) and slow (answered after slow_latency) apply the request first. Latencies in real seconds. only_method ('POST', 'GET', 'DELETE'): only those requests suffer the faults.
        """
    def stop(self) -> None:
        """
        Stop serving and the clock. Idempotent.
        """
    def trigger_uplink(self, dev_eui: str) -> bool:
        """
        The device transmits now; False when unknown or without power.
        """
    @property
    def api_key(self) -> str:
        ...
    @property
    def events_dropped_mqtt(self) -> int:
        """
        Events the MQTT client refused (its buffer full or the client unusable): never delivered.
        """
    @property
    def events_emitted(self) -> int:
        ...
    @property
    def events_published_mqtt(self) -> int:
        """
        Events handed to the MQTT broker's client (0 without mqtt_url).
        """
    @property
    def manual_time(self) -> bool:
        ...
    @property
    def port(self) -> int:
        ...
    @property
    def running(self) -> bool:
        ...
    @property
    def speed(self) -> float:
        ...
    @property
    def url(self) -> str:
        ...
def builtin_profiles() -> list[Profile]:
    ...
def eastron_sdm320c(passthrough_fport: typing.SupportsInt | typing.SupportsIndex = 5) -> Profile:
    ...
def normalize_dev_eui(dev_eui: str) -> str:
    """
    16 lower-case hex digits, or ValueError saying what is wrong.
    """
def parse_event(event_type: str, payload: str | bytes | bytearray | memoryview) -> UpEvent | AckEvent | TxAckEvent | LogEvent | StatusEvent | JoinEvent | LocationEvent | UnknownEvent:
    """
    Read one ChirpStack event: its type ('up', 'ack', 'txack', 'log', 'status', 'join', 'location'; others give UnknownEvent) and its JSON payload (str or bytes). EventError names the field that is wrong.
    """
def profiles_from_json(text: str) -> list[Profile]:
    """
    Profiles from JSON text: one profile object, an array, or {"profiles": [...]}. ProfileError names the field.
    """
__version__: str = '0.1.0'
