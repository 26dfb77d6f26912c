"""`hulian timestamp RUN --tsa URL`, and what `hulian verify` says about a bundle's signature
and timestamp (its options and its lines), kept apart from the hash checks in runs.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audit.cli.console import fail, shown, stderr, stdout
from audit.errors import EXIT_NOT_A_RUN, HulianError

if TYPE_CHECKING:  # the evidence modules load cryptography: imported when a command runs
    from audit.evidence.custody import Custody

RunArg = Annotated[Path, typer.Argument(metavar="RUN",
                                        help="A run bundle directory (runs/<run-id>).")]

Trust = Annotated[list[str] | None, typer.Option(
    "--trust", metavar="FINGERPRINT",
    help="Require a signature by this key (its fingerprint, as `hulian keys show` prints). "
         "Repeatable. Exit status 10 if the bundle is unsigned or signed by another key.")]
TrustedKeys = Annotated[Path | None, typer.Option(
    "--trusted-keys", metavar="FILE",
    help="Like --trust, for every key in FILE (fingerprints one per line, or PEM public "
         "keys).")]
TsaCert = Annotated[list[Path] | None, typer.Option(
    "--tsa-cert", metavar="FILE",
    help="Check the timestamp's signature against this certificate (the TSA's CA, PEM). "
         "Repeatable. Exit status 10 if the bundle has no timestamp.")]


def check(run: Path, trust: list[str] | None, trusted_keys: Path | None,
          tsa_cert: list[Path] | None) -> Custody:
    """The custody of a bundle, judged (audit.evidence.custody.Custody); a bad --trust value,
    trusted-keys file or certificate ends the command with exit status 2."""
    from audit.evidence.custody import check_custody
    from audit.evidence.signing import load_trusted, normalise_fingerprint

    try:
        trusted: set[str] | None = None
        if trust or trusted_keys:
            trusted = set()
            for value in trust or []:
                fingerprint = normalise_fingerprint(value)
                if fingerprint is None:
                    raise typer.BadParameter(f"{value!r}: a fingerprint is 64 hex digits, as "
                                             "`hulian keys show` prints", param_hint="--trust")
                trusted.add(fingerprint)
            if trusted_keys:
                trusted |= load_trusted(trusted_keys)
        return check_custody(run, trusted=trusted, tsa_certs=tsa_cert or [])
    except HulianError as exc:
        fail(str(exc))
        raise typer.Exit(2) from None


def print_lines(custody: Custody, intact: bool) -> None:
    """What each check proves, one line each: consistency, origin, time."""
    stdout.print(("[green]consistency 一致性: intact 完整[/]" if intact
                  else "[red]consistency 一致性: FAILS 不成立[/]")
                 + " — the files are those the manifest lists; hashes alone do not say who "
                   "wrote them (anyone who edits a file can recompute them)")
    for name, state, proves in custody.lines():
        colour = ("red" if "FAILS" in state or "NOT a trusted" in proves
                  else "yellow" if custody.signature.state == "absent" and name.startswith("o")
                  else "green")
        stdout.print(f"[{colour}]{shown(name)}: {shown(state)}[/] — {shown(proves)}")


def exit_status(custody: Custody, intact: bool) -> int:
    """0 all holds; 1 the bundle or an attestation fails; 10 what --trust/--tsa-cert asked
    for is not established."""
    from audit.evidence.custody import EXIT_NOT_ESTABLISHED

    if not intact or custody.broken:
        return 1
    return 0 if custody.established else EXIT_NOT_ESTABLISHED


def timestamp_command(
    run: RunArg,
    tsa: Annotated[str, typer.Option(
        envvar="HULIAN_TSA", help="The RFC 3161 time-stamping authority's URL. Also "
                                  "$HULIAN_TSA.")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the TSA.")] = 30.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")
                           ] = False,
) -> None:
    """Timestamp a sealed run after the fact: ask a time-stamping authority (RFC 3161) for a
    token over the manifest's digest and store it as RUN/timestamp.tsr. Only a bundle that
    verifies is stamped, and an existing token is kept (the earliest time is worth most).
    Check it with `hulian verify RUN --tsa-cert CA.pem`.

    Exit status: 1 the TSA is down, refused or answered garbage (nothing is written), or the
    bundle fails verification; 5 another process writes the bundle; 7 RUN is not a run.

    Example:

      hulian timestamp runs/RUN --tsa https://tsa.example.org/tsr
    """
    from audit.evidence.bundle import MANIFEST
    from audit.evidence.custody import timestamp_later

    if not (run / MANIFEST).is_file():
        fail(f"{run}: not a run bundle (no {MANIFEST})")
        raise typer.Exit(EXIT_NOT_A_RUN)
    try:
        result = timestamp_later(run, tsa, timeout=timeout)
    except HulianError as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    when = result.time.isoformat() if result.time else None
    if json_output:
        stdout.out(json.dumps({"run": str(run), "timestamp": str(run / "timestamp.tsr"),
                               "time": when, "tsa": result.tsa}, ensure_ascii=False))
    else:
        stdout.print(f"timestamped 已加时间戳: {shown(str(run / 'timestamp.tsr'))} "
                     f"({when}, TSA {shown(result.tsa or '?')})")


WaczOut = Annotated[Path | None, typer.Option(
    "--wacz", metavar="OUT.wacz",
    help="Package the run's WARC evidence as a WACZ file instead (Webrecorder's format: pywb, "
         "ReplayWeb.page): WARCs, index, pages.jsonl, datapackage.json with the manifest "
         "digest, and the bundle's manifest, signature and timestamp. --format, --table and "
         "--out do not apply.")]
WaczSignKey = Annotated[Path | None, typer.Option(
    "--sign-key", envvar="HULIAN_SIGN_KEY",
    help="With --wacz: sign the package per the WACZ signing specification (signedData, "
         "ECDSA P-384 derived from this key, which ReplayWeb.page verifies) and with the key "
         "itself (hulianSignature, for --trust). Also $HULIAN_SIGN_KEY.")]
WaczPassphrase = Annotated[Path | None, typer.Option(
    "--sign-passphrase-file", envvar="HULIAN_SIGN_PASSPHRASE_FILE",
    help="The file whose first line is --sign-key's passphrase.")]


def export_wacz(run: Path, out: Path, sign_key: Path | None,
                sign_passphrase_file: Path | None) -> None:
    """`hulian export RUN --wacz OUT.wacz` (the bundle verified by the caller). Raises
    HulianError subclasses for the caller to report."""
    from audit.evidence.signing import load_signer, read_passphrase
    from audit.evidence.wacz import export_wacz as package

    signer = None
    if sign_key is not None:
        passphrase = read_passphrase(sign_passphrase_file) if sign_passphrase_file else None
        signer = load_signer(sign_key, passphrase)
    exported = package(run, out, signer=signer)
    stderr.print(f"WACZ: {exported.path} ({len(exported.warcs)} WARC, {exported.pages} "
                 f"page(s) 页面; manifest {exported.manifest_digest[:16]}…"
                 + (f"; signed 已签名 {exported.signed_by}" if exported.signed_by else "")
                 + ")", highlight=False)
