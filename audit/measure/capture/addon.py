"""The hulian addon for mitmproxy: `mitmdump -s audit/measure/capture/addon.py --set
hulian_plan=PLAN --set hulian_run=RUN` (also mitmweb, mitmproxy). It attributes each flow to a
planned probe, marks it for mitmweb, and appends observations to the run bundle as chains are
decided (audit.measure.capture.run does the work); mitmproxy's script loader reads `addons`."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from mitmproxy import ctx, exceptions, http
from mitmproxy import io as mio

from audit.measure.capture.mitm import record_from_flow, redacted_copy
from audit.measure.capture.run import CaptureSession, SessionError

_MARKERS = {"block_page": ":no_entry:", "interstitial": ":warning:", "wrapper": ":link:",
            "link_check": ":mag:", "arrival": ":white_check_mark:", "control": ":scales:"}


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise exceptions.OptionsError(  # type: ignore[no-untyped-call]
            f"hulian_window: {value!r} is not a number of seconds") from None


class CaptureAddon:
    """Attributes each flow to a planned probe, marks it (metadata, comment, marker: visible
    in mitmweb), and appends an Observation to the run bundle as each chain is decided."""

    def __init__(self) -> None:
        self.session: Any = None
        self.flow_file: IO[bytes] | None = None
        self.writer: mio.FlowWriter | None = None
        self.index = 0

    def load(self, loader: Any) -> None:
        loader.add_option("hulian_plan", str, "",
                          "A hulian capture plan (plan.json or its directory): the probes "
                          "whose tokens attribute flows. Empty: discover links from the "
                          "policy catalog.")
        loader.add_option("hulian_run", str, "",
                          "The run bundle directory that observations and the (redacted) raw "
                          "flows are written to. Empty: only mark flows.")
        loader.add_option("hulian_keep_secrets", bool, False,
                          "Keep cookies, Authorization headers and secret tokens in evidence "
                          "and observations (redacted by default).")
        # A string: mitmproxy options have no float type.
        loader.add_option("hulian_window", str, "30",
                          "Seconds without a new flow after which an undecided chain is "
                          "judged with what it has.")

    def configure(self, updated: set[str]) -> None:
        if not updated & {"hulian_plan", "hulian_run", "hulian_keep_secrets", "hulian_window"}:
            return
        self._close()
        try:
            self.session = CaptureSession.open(
                plan=Path(ctx.options.hulian_plan) if ctx.options.hulian_plan else None,
                run=Path(ctx.options.hulian_run) if ctx.options.hulian_run else None,
                keep_secrets=ctx.options.hulian_keep_secrets,
                window_s=_seconds(ctx.options.hulian_window), config={"method": "capture record"})
        except SessionError as exc:
            raise exceptions.OptionsError(str(exc)) from None  # type: ignore[no-untyped-call]
        if self.session.run is not None:
            self.flow_file = (self.session.run / "evidence" / "flows.mitm").open("ab")
            self.writer = mio.FlowWriter(self.flow_file)  # type: ignore[no-untyped-call]

    def response(self, flow: http.HTTPFlow) -> None:
        self._handle(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._handle(flow)

    def _handle(self, flow: http.HTTPFlow) -> None:
        if self.session is None:
            return
        index = self.index
        self.index += 1
        evidence = f"flows.mitm#{index}"
        record = record_from_flow(flow, "flows.mitm", index)
        mark = self.session.feed(record)
        flow.metadata["hulian"] = {"kind": mark.kind, "probe": mark.probe_id,
                                   "outcome": mark.outcome, "evidence": evidence}
        if mark.kind != "other":
            text = f"hulian {mark.kind}" + (f" · probe {mark.probe_id}" if mark.probe_id else "")
            if mark.outcome:
                text += f" · outcome {mark.outcome}"
            flow.comment = text
            flow.marked = _MARKERS.get(mark.kind, ":pushpin:")
        if self.writer is not None and self.flow_file is not None:
            self.writer.add(flow if self.session.keep_secrets else redacted_copy(flow))
            self.flow_file.flush()

    def done(self) -> None:
        self._close()

    def _close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.flow_file is not None:
            self.flow_file.close()
            self.flow_file = None
            self.writer = None


addons = [CaptureAddon()]
