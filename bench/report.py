"""Rendering one benchmark run as docs/benchmarks.md."""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.results import Results

PROJECT = Path(__file__).resolve().parent.parent

BENCH_PACKAGES = ("chalice", "botocore", "PyJWT", "argon2-cffi", "moto", "httpx", "pytest-benchmark")
TIMES = "\N{MULTIPLICATION SIGN}"
LAMBDA_PACKAGES = ("boto3", "botocore", "PyJWT", "argon2-cffi", "argon2-cffi-bindings", "cffi")

# Targets, as ratios or counts.
COLD_START_MAX_RATIO = 1.15
VERIFY_MAX_RATIO = 1.2
LOGIN_MAX_OVERHEAD_SECONDS = 0.002
REFRESH_MAX_ROUND_TRIPS = 2
COLD_START_SSM_CALLS = 1
CLIENT_REFRESHES = 1

# (memory in KiB, passes) of the Argon2id rows, one lane each. keypin uses the first.
ARGON2_PARAMETERS = ((19 * 1024, 2), (46 * 1024, 1), (46 * 1024, 2), (64 * 1024, 2), (128 * 1024, 2))


@dataclass(frozen=True)
class RunContext:
    """Facts about the run itself that the report states."""

    command: str
    quick: bool
    started: float  # Unix time
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    lambda_versions: dict[str, str] = field(default_factory=dict)


def render(results: Results, context: RunContext) -> str:
    """Return the whole Markdown page for `results`."""
    report = _Report(results)
    sections = [
        _header(context),
        report.summary(),
        report.cold_start(),
        report.verify(),
        report.handler(),
        report.login_refresh(),
        report.client(),
        report.missed_section(),
    ]
    return "\n".join(sections)


def argon2_name(memory_kib: int, passes: int) -> str:
    return f"argon2.hash.m{memory_kib}.t{passes}"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    if seconds < 0.001:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 0.01:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e3:.1f} ms"


def format_ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return "not measured"
    return f"{numerator / denominator:.2f}{TIMES}"


def format_count(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value:g}"


def _header(context: RunContext) -> str:
    started = datetime.datetime.fromtimestamp(context.started, tz=datetime.UTC)
    elapsed = datetime.datetime.now(tz=datetime.UTC) - started
    lines = [
        "# Benchmarks",
        "",
        "`make bench` runs the benchmarks in `bench/` with pytest-benchmark and rewrites this page. Every",
        "number on it comes from the one run described below, on a development machine, not on Lambda.",
        "Times are medians; IQR is the interquartile range. AWS is moto's server on 127.0.0.1, so every",
        "SSM and DynamoDB call is a local HTTP round trip to a Python process, not a call to AWS.",
        "",
    ]
    if context.quick:
        lines += ["**Quick run:** each benchmark ran once, or on a few samples, to check that it works. Its times "
                  "are not measurements.", ""]

    lines += [
        "| run | |",
        "| --- | --- |",
        f"| command | `{context.command}` |",
        f"| keypin commit | {_commit()} |",
        f"| date | {started:%Y-%m-%d %H:%M} UTC, {elapsed.total_seconds():.0f} s |",
        f"| machine | {_cpu_model()}, {os.cpu_count()} cores, {_memory_gib():.0f} GiB memory, "
        f"Linux {platform.release()} |",
        f"| load average (1, 5, 15 min) | {_load(context.load_before)} before, {_load(context.load_after)} after |",
        f"| Python | {platform.python_implementation()} {platform.python_version()} |",
        f"| packages, benchmark process | {_versions({name: _installed(name) for name in BENCH_PACKAGES})} |",
        f"| packages, Lambda-like environment | {_versions(context.lambda_versions) or 'not used'} |",
        "",
    ]
    return "\n".join(lines)


class _Report:
    """The sections of the page, and the list of missed targets they build up."""

    def __init__(self, results: Results) -> None:
        self.results = results
        self.missed: list[str] = []
        self.summary_rows: list[str] = []
        self._build_summary()

    def _verdict(self, met: bool | None, reason: str) -> str:
        if met is None:
            return "not measured"
        if met:
            return "met"
        self.missed.append(reason)
        return "**missed**"

    def _build_summary(self) -> None:
        r = self.results
        rows = self.summary_rows

        keypin, floor = r.median("cold.keypin.import"), r.median("cold.floor.import")
        met = None if keypin is None or floor is None else keypin <= COLD_START_MAX_RATIO * floor
        rows.append(_row("1", f"cold start (import of app.py) ≤ {COLD_START_MAX_RATIO} {TIMES} floor",
                         format_ratio(keypin, floor), self._verdict(
                             met, f"Cold start: keypin's import of app.py took {format_seconds(keypin)}, the "
                                  f"floor's {format_seconds(floor)}.")))
        stretch = "not measured"
        if keypin is not None and floor is not None:
            stretch = "met" if keypin < floor else "not met"
        rows.append(_row("1", "stretch: cold start below the floor", format_ratio(keypin, floor), stretch))

        ssm = r.counts.get("cold.ssm_calls")
        rows.append(_row("1", "SSM calls per cold start = 1", format_count(ssm), self._verdict(
            None if ssm is None else ssm == COLD_START_SSM_CALLS, f"Each cold start made {ssm} SSM calls.")))
        warm = r.counts.get("warm.ssm_calls_per_1000")
        rows.append(_row("1", "SSM calls per 1,000 warm requests = 0", format_count(warm), self._verdict(
            None if warm is None else warm == 0, f"1,000 warm requests made {warm} SSM calls.")))

        first, raw = r.median("verify.keypin.first"), r.median("verify.pyjwt")
        rows.append(_row("2", f"verify, first-seen token ≤ {VERIFY_MAX_RATIO} {TIMES} PyJWT", format_ratio(first, raw),
                         self._verdict(None if first is None or raw is None else first <= VERIFY_MAX_RATIO * raw,
                                       _verify_reason(first, raw))))

        verify = r.median("argon2.verify")
        overhead = _difference(r.median("login"), verify)
        rows.append(_row("4", "login ≤ Argon2id + 2 ms, DynamoDB calls included (moto's server)",
                         _plus(overhead),
                         self._verdict(None if overhead is None else overhead <= LOGIN_MAX_OVERHEAD_SECONDS,
                                       self._login_reason(overhead))))
        rest = r.median("login.rest")
        rows.append(_row("4", "login ≤ its Argon2id + 2 ms, time inside DynamoDB calls left out", _plus(rest),
                         self._verdict(None if rest is None else rest <= LOGIN_MAX_OVERHEAD_SECONDS,
                                       f"Login: besides its Argon2id verification and DynamoDB calls, a login took "
                                       f"{format_seconds(rest)}.")))

        trips = r.counts.get("refresh.round_trips")
        rows.append(_row("4", f"refresh ≤ {REFRESH_MAX_ROUND_TRIPS} DynamoDB round trips", format_count(trips),
                         self._verdict(None if trips is None else trips <= REFRESH_MAX_ROUND_TRIPS,
                                       f"Each refresh made {trips} DynamoDB calls.")))

        refreshes = r.counts.get("client.max_refreshes")
        rows.append(_row("5", "refresh requests, 20 callers on an expired token = 1", format_count(refreshes),
                         self._verdict(None if refreshes is None else refreshes == CLIENT_REFRESHES,
                                       f"20 concurrent callers sent up to {refreshes} refresh requests.")))

    def _login_reason(self, overhead: float | None) -> str:
        calls = self.results.counts.get("login.round_trips")
        in_calls = self.results.median("login.dynamodb")
        return (f"Login against moto's server: a login took {format_seconds(overhead)} more than one Argon2id "
                f"verification timed alone. Inside each login, its {format_count(calls)} DynamoDB calls took "
                f"{format_seconds(in_calls)} (median), each an HTTP round trip to moto's server. On AWS, "
                f"{format_count(calls)} sequential calls at DynamoDB's single-digit-millisecond latency would also "
                "take more than 2 ms (an estimate, not measured here), so the target can hold only with the "
                "calls left out.")

    def summary(self) -> str:
        lines = ["## Targets", "", "| item | target | measured | result |", "| --- | --- | --- | --- |",
                 *self.summary_rows, ""]
        return "\n".join(lines)

    def cold_start(self) -> str:
        r = self.results
        floor_wall, floor_import = r.median("cold.floor"), r.median("cold.floor.import")
        lines = [
            "## 1. Cold start",
            "",
            "Each sample starts a fresh interpreter of a virtual environment that contains only",
            "`requirements.txt` plus boto3 and s3transfer at their pinned versions, as Lambda's runtime",
            "provides them. Its working directory is a package laid out as `chalice package` lays it out",
            "(`app.py`, `chalicelib/`, Chalice's `chalice/__init__.py` and `chalice/app.py`), and it runs",
            "`import app` against moto's server. The process column is the wall time from spawn to exit.",
            "The import column is measured inside the child around `import app`, which is the part that",
            "the app's own code controls, and the target applies to it. The harness times these samples",
            "itself, in interleaved rounds that start each package once in a rotated order, so that load",
            "from other processes falls on all three alike. Warm-up rounds write the `.pyc` files first.",
            "",
            f"| package | process (median) | import of app.py (median) | process {TIMES} floor "
            f"| import {TIMES} floor |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, label in (
            ("keypin", "keypin as committed: botocore clients, one shared botocore session"),
            ("keypin-boto3", "keypin with its clients made through boto3's session instead, for comparison"),
            ("floor", "floor: bare Chalice app, one boto3 SSM client, one GetParameter"),
        ):
            wall, imported = r.median(f"cold.{name}"), r.median(f"cold.{name}.import")
            lines.append(f"| {label} | {format_seconds(wall)} | {format_seconds(imported)} | "
                         f"{format_ratio(wall, floor_wall)} | {format_ratio(imported, floor_import)} |")

        counted = r.counts.get("cold.counted_starts")
        seconds = r.counts.get("warm.seconds")
        lines += [
            "",
            "| AWS calls, counted by moto's server | count | target |",
            "| --- | --- | --- |",
            f"| SSM calls per cold start (mean of {format_count(counted)} cold starts) | "
            f"{format_count(r.counts.get('cold.ssm_calls'))} | 1 |",
            f"| DynamoDB calls per cold start | {format_count(r.counts.get('cold.dynamodb_calls'))} | |",
            f"| SSM calls per 1,000 warm requests | {format_count(r.counts.get('warm.ssm_calls_per_1000'))} | 0 |",
            "",
            "The warm requests are `GET /me` calls to the handler, each with a token it has not seen.",
            f"They took {'an unmeasured time' if seconds is None else f'{seconds:.1f} s'} in all. A warm container "
            "also re-reads",
            "the parameter once the loaded key set is older than `KEYPIN_KEY_MAX_AGE_SECONDS` (300 s by",
            "default). A container that stays warm longer therefore makes one GetParameter call per 300 s",
            "whatever its request count, plus at most one per refresh interval for tokens with unknown `kid`s.",
            "",
        ]
        return "\n".join(lines)

    def verify(self) -> str:
        r = self.results
        raw = r.median("verify.pyjwt")
        rows = (
            ("verify.pyjwt", "PyJWT `jwt.decode`: same key, `algorithms=[\"HS512\"]`, required claims, "
                             "`iss`, `aud`, leeway, then `token_use`"),
            ("verify.keypin.first", "keypin `TokenCodec.decode`, token seen for the first time"),
            ("verify.keypin.repeat", "keypin `TokenCodec.decode`, repeated token (cache hit, expiry checked)"),
            ("verify.by_hand", "reference: HMAC-SHA512, base64url and JSON by hand, no claim checks"),
        )
        lines = [
            "## 2. Verify path",
            "",
            "The app's own codec (key ring loaded from SSM, 2,048-entry cache of verified tokens) against",
            "PyJWT on the same key. Each first-seen sample decodes a token that no earlier sample used, and",
            "is one call timed on its own. The harness takes these samples itself, in blocks of 50 tokens",
            "that go to each first-seen verifier in turn, so that load from other processes falls on all",
            "three alike. pytest-benchmark times the repeated token.",
            "",
            f"| verifier | median | IQR | rounds | {TIMES} PyJWT |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, label in rows:
            lines.append(self._timing_row(label, name, raw))
        lines.append("")
        return "\n".join(lines)

    def handler(self) -> str:
        r = self.results
        health = r.median("handler.health")
        lines = [
            "## 3. A protected request",
            "",
            "The Lambda handler (`app.app(event, context)`) called directly in a warm container with an",
            "API Gateway REST proxy event; no HTTP server is involved.",
            "",
            f"| request | median | IQR | rounds | {TIMES} /health |",
            "| --- | --- | --- | --- | --- |",
            self._timing_row("`GET /health`, unprotected, constant body", "handler.health", health),
            self._timing_row("`GET /me`, repeated token", "handler.me.repeat", health),
            self._timing_row("`GET /me`, token seen for the first time", "handler.me.first", health),
            "",
        ]
        return "\n".join(lines)

    def login_refresh(self) -> str:
        r = self.results
        verify = r.median("argon2.verify")
        lines = [
            "## 4. Login and refresh",
            "",
            "Login and refresh go through the handler with API Gateway events. **DynamoDB behind these",
            "numbers is moto's server on 127.0.0.1** (HTTP to a Python process on the same 2 cores), so",
            "each DynamoDB call costs a moto round trip, and AWS's latency differs. The time inside",
            "DynamoDB calls runs from botocore's `before-call` to its `after-call` event (signing, the",
            "round trip and parsing the response). The parts of a login are timed inside each login, and",
            "the rest is that login's time less its Argon2id and DynamoDB parts.",
            "",
            f"| measure | median | IQR | rounds | {TIMES} Argon2id |",
            "| --- | --- | --- | --- | --- |",
            self._timing_row("Argon2id verification alone (19 MiB, 2 passes, 1 lane)", "argon2.verify", verify),
            self._timing_row("`POST /auth/login`", "login", verify),
            self._timing_row("the Argon2id verification inside one login", "login.argon2", verify),
            self._timing_row("the DynamoDB calls inside one login", "login.dynamodb", verify),
            self._timing_row("the rest of one login, everything but the two parts above", "login.rest", verify),
            self._timing_row("`POST /auth/refresh`", "refresh", verify),
            self._timing_row("one DynamoDB `GetItem` to moto's server (keypin's client)", "dynamodb.get_item",
                             None),
            "",
            "| request | DynamoDB calls, counted by moto's server | target |",
            "| --- | --- | --- |",
            f"| login | {format_count(r.counts.get('login.round_trips'))} "
            f"({self._operations('login')}) | |",
            f"| refresh | {format_count(r.counts.get('refresh.round_trips'))} ({self._operations('refresh')}) "
            f"| ≤ {REFRESH_MAX_ROUND_TRIPS} |",
            "",
            "### Argon2id parameters",
            "",
            "Hash time of `argon2.PasswordHasher(...).hash` against memory cost, one lane. keypin uses the",
            "first row. Lambda gives CPU in proportion to memory size, so these times grow on smaller",
            "functions.",
            "",
            "| memory | passes | median | IQR | rounds |",
            "| --- | --- | --- | --- | --- |",
        ]
        for memory_kib, passes in ARGON2_PARAMETERS:
            timing = r.timings.get(argon2_name(memory_kib, passes))
            median = format_seconds(timing.median if timing else None)
            iqr = format_seconds(timing.iqr) if timing else ""
            rounds = str(timing.rounds) if timing else ""
            lines.append(f"| {memory_kib // 1024} MiB | {passes} | {median} | {iqr} | {rounds} |")
        lines.append("")
        return "\n".join(lines)

    def client(self) -> str:
        r = self.results
        lines = [
            "## 5. Python client",
            "",
            "`keypin_client.login` against `chalice local` (same moto server), then each round stores an",
            "access token that expired 120 s ago and starts 20 threads that call `GET /me` at once through",
            "one client. Refresh requests are counted in the access log of `chalice local`.",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| rounds | {format_count(r.counts.get('client.rounds'))} |",
            f"| refresh requests per round, most | {format_count(r.counts.get('client.max_refreshes'))} |",
            f"| refresh requests per round, fewest | {format_count(r.counts.get('client.min_refreshes'))} |",
            f"| wall time of the 20 calls (median) | {format_seconds(r.median('client.concurrent'))} |",
            "",
        ]
        return "\n".join(lines)

    def missed_section(self) -> str:
        lines = ["## Missed targets", ""]
        if not self.missed:
            lines += ["None in this run.", ""]
            return "\n".join(lines)
        lines += [f"- {reason}" for reason in self.missed]
        lines.append("")
        return "\n".join(lines)

    def _operations(self, prefix: str) -> str:
        operations = {name.removeprefix(f"{prefix}.op."): value for name, value in self.results.counts.items()
                      if name.startswith(f"{prefix}.op.")}
        if not operations:
            return "not measured"
        return ", ".join(f"{format_count(value)} {name}" for name, value in sorted(operations.items()))

    def _timing_row(self, label: str, name: str, base: float | None) -> str:
        timing = self.results.timings.get(name)
        if timing is None:
            return f"| {label} | not measured | | | |"
        ratio = format_ratio(timing.median, base) if base is not None else ""
        median, iqr = format_seconds(timing.median), format_seconds(timing.iqr)
        return f"| {label} | {median} | {iqr} | {timing.rounds} | {ratio} |"


def _verify_reason(first: float | None, raw: float | None) -> str:
    return (f"Verify path: a first-seen token took {format_seconds(first)} in keypin and {format_seconds(raw)} "
            "in PyJWT. keypin decodes and checks the header and payload itself (duplicate members, `crit`, "
            "claim types), and PyJWT's signature check (`PyJWS.decode_complete`) then decodes the header "
            "and payload a second time. Checking the signature with PyJWT's `HMACAlgorithm` on the segments "
            "keypin has already parsed would avoid that second decode.")


def _difference(minuend: float | None, subtrahend: float | None) -> float | None:
    if minuend is None or subtrahend is None:
        return None
    return minuend - subtrahend


def _plus(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    return f"+{format_seconds(seconds)}" if seconds >= 0 else f"-{format_seconds(-seconds)}"


def _row(item: str, target: str, measured: str, result: str) -> str:
    return f"| {item} | {target} | {measured} | {result} |"


def _commit() -> str:
    """Return the checked-out commit, with a note when tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "app.py",
                                  "chalicelib"], cwd=PROJECT, capture_output=True, text=True, check=True,
                                 timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (git failed)"
    return f"`{commit}`, with uncommitted changes to app.py or chalicelib/" if changed else f"`{commit}`"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _installed(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items())


def _load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{value:.2f}" for value in load)
