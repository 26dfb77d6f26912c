"""End to end: a lab run signed (--sign-key) and timestamped (--tsa, a TSA on 127.0.0.1),
verified for origin and time, its report carrying the chain of custody, and its evidence
exported as WACZ (audit/evidence/wacz.py): py-wacz's validator accepts the package, and pywb
(`wb-manager` + `wayback` on 127.0.0.1) replays a lab interstitial byte for byte from the
package's WARC. The package's signedData is checked by ReplayWeb.page's own verifier
(wabac.js, built into .wacz-verifier by scripts/wacz-verifier.sh) under Node.

pywb pins old versions of libraries hulian uses (redis 2, fakeredis 0.16), so it lives in its
own virtualenv, .venv-pywb, made by scripts/bootstrap.sh; the replay test is skipped, saying
so, where it is missing."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result
from warcio.archiveiterator import ArchiveIterator

from audit.cli import app
from audit.evidence.bundle import MANIFEST, SIGNATURE, TIMESTAMP, Bundle, read_manifest
from audit.evidence.signing import KeyFiles, generate_key, load_signer
from audit.evidence.wacz import WaczError, check_wacz_signature, export_wacz, validate
from tests.tsa import TsaServer, local_tsa

REPO = Path(__file__).resolve().parent.parent
PYWB = REPO / ".venv-pywb" / "bin"
WACZ_VERIFIER = REPO / ".wacz-verifier" / "verifier.mjs"
ENV = {"COLUMNS": "500", "HULIAN_POLICIES": None, "NO_COLOR": "1", "HULIAN_TSA": None,
       "HULIAN_SIGN_KEY": None, "HULIAN_SIGN_PASSPHRASE_FILE": None}

pytestmark = pytest.mark.slow


def hulian(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


@dataclass
class SignedRun:
    path: Path
    key: KeyFiles
    tsa: TsaServer


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedRun]:
    root = tmp_path_factory.mktemp("signed")
    key = generate_key(root / "keys")
    with local_tsa(root / "tsa") as tsa:
        result = hulian("run", "--lab", "--source", "meiwei", "--out", root / "runs",
                        "--run-id", "signed", "--sign-key", key.private, "--tsa", tsa.url,
                        "--report-format", "html", "--json")
        assert result.exit_code == 0, result.output
        assert "signed 已签名" in result.stderr and "timestamped 已加时间戳" in result.stderr
        yield SignedRun(root / "runs" / "signed", key, tsa)


def test_the_run_verifies_for_consistency_origin_and_time(signed_run: SignedRun) -> None:
    run = signed_run.path
    assert (run / SIGNATURE).is_file() and (run / TIMESTAMP).is_file()
    result = hulian("verify", run, "--trust", signed_run.key.fingerprint,
                    "--tsa-cert", signed_run.tsa.files.ca)
    assert result.exit_code == 0, result.output
    assert "consistency 一致性: intact" in result.stdout
    assert "origin 来源: signed" in result.stdout and "a trusted key" in result.stdout
    assert "time 时间: timestamped" in result.stdout


def test_the_report_carries_the_chain_of_custody(signed_run: SignedRun) -> None:
    html = (signed_run.path / "report.html").read_text(encoding="utf-8")
    digest = read_manifest(signed_run.path).manifest_digest
    assert digest is not None and digest in html
    assert signed_run.key.fingerprint in html
    assert "CN=hulian test TSA" in html
    assert "hulian verify" in html and "--trust" in html


def _warned_interstitial(run: Path) -> tuple[str, str]:
    """The URL and WARC record id of a warning interstitial the run recorded."""
    for observation in Bundle(run).observations():
        if observation.outcome.value == "warned" and observation.hops:
            hop = observation.hops[0]
            if hop.status == 200 and hop.warc_record_id:
                return hop.url, hop.warc_record_id
    raise AssertionError("the lab run recorded no warning interstitial")


def _recorded(warc: Path, record_id: str) -> tuple[str, bytes]:
    """(WARC-Date as a 14-digit timestamp, the response body) of a record."""
    with warc.open("rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_headers.get_header("WARC-Record-ID") == f"<{record_id}>" \
                    or record.rec_headers.get_header("WARC-Record-ID") == record_id:
                date = record.rec_headers.get_header("WARC-Date")
                stamp = "".join(ch for ch in date if ch.isdigit())[:14]
                return stamp, record.content_stream().read()
    raise AssertionError(f"record {record_id} not in {warc}")


@pytest.fixture(scope="module")
def package(signed_run: SignedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wacz") / "run.wacz"
    exported = export_wacz(signed_run.path, out, signer=load_signer(signed_run.key.private))
    assert exported.path == out and exported.warcs == ["crawl.warc.gz"]
    assert exported.pages > 0 and exported.signed_by == signed_run.key.fingerprint
    return out


def test_the_wacz_is_valid_and_carries_the_manifest(package: Path, signed_run: SignedRun
                                                    ) -> None:
    valid, said = validate(package)
    assert valid, said
    with zipfile.ZipFile(package) as wacz:
        names = set(wacz.namelist())
        datapackage = json.loads(wacz.read("datapackage.json"))
        pages = [json.loads(line) for line in wacz.read("pages/pages.jsonl").splitlines()]
        archived = wacz.read("archive/crawl.warc.gz")
        manifest = json.loads(wacz.read(f"hulian/{MANIFEST}"))
    assert {"archive/crawl.warc.gz", "indexes/index.cdx.gz", "pages/pages.jsonl",
            "datapackage-digest.json", "hulian/manifest.json", "hulian/signature.json",
            "hulian/timestamp.tsr"} <= names
    digest = read_manifest(signed_run.path).manifest_digest
    assert datapackage["hulian"]["manifest_digest"] == digest
    assert datapackage["hulian"]["signed_by"] == signed_run.key.fingerprint
    # The archived WARC is the very file the signed manifest lists.
    import hashlib
    assert manifest["files"]["evidence/crawl.warc.gz"] == hashlib.sha256(archived).hexdigest()
    # Pages: the probes' start and final pages, found in the WARC.
    urls = {page.get("url") for page in pages[1:]}
    start_url, _ = _warned_interstitial(signed_run.path)
    assert start_url in urls
    assert pages[0]["format"] == "json-pages-1.0"


def _rewritten(package: Path, out: Path, edit: Callable[[str, bytes], bytes]) -> Path:
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, edit(info.filename, source.read(info)))
    return out


def _digest_doc(package: Path) -> dict[str, Any]:
    with zipfile.ZipFile(package) as wacz:
        document: dict[str, Any] = json.loads(wacz.read("datapackage-digest.json"))
    return document


def test_the_wacz_signature(package: Path, signed_run: SignedRun, tmp_path: Path) -> None:
    check = check_wacz_signature(package, {signed_run.key.fingerprint})
    assert check.valid and check.trusted is True
    # The specification's signedData: over the datapackage hash, with datapackage.json's
    # created time, by the P-384 key datapackage.json names.
    with zipfile.ZipFile(package) as wacz:
        datapackage = json.loads(wacz.read("datapackage.json"))
    signed = _digest_doc(package)["signedData"]
    assert signed["hash"] == _digest_doc(package)["hash"]
    assert signed["created"] == datapackage["created"]
    assert signed["publicKey"] == datapackage["hulian"]["wacz_public_key"]
    # An edited datapackage.json no longer matches what was signed.
    edited = _rewritten(package, tmp_path / "edited.wacz", lambda name, data: data.replace(
        b'"title"', b'"tItle"', 1) if name == "datapackage.json" else data)
    assert check_wacz_signature(edited).state == "other_manifest"


def test_an_edited_spec_signature_is_caught(package: Path, tmp_path: Path) -> None:
    def forge(field: str, value: str) -> Callable[[str, bytes], bytes]:
        def edit(name: str, data: bytes) -> bytes:
            if name != "datapackage-digest.json":
                return data
            document = json.loads(data)
            document["signedData"][field] = value
            return json.dumps(document).encode()
        return edit

    signed = _digest_doc(package)["signedData"]
    flipped = base64.b64encode(bytes([base64.b64decode(signed["signature"])[0] ^ 1])
                               + base64.b64decode(signed["signature"])[1:]).decode()
    cases = {"signature": flipped, "created": "2001-01-01T00:00:00Z",
             "publicKey": base64.b64encode(b"not a key").decode()}
    for field, value in cases.items():
        forged = _rewritten(package, tmp_path / f"{field}.wacz", forge(field, value))
        check = check_wacz_signature(forged)
        assert check.state == "bad_signature" and "signedData" in check.detail, (field, check)


def test_replaywebpage_verifies_the_spec_signature(package: Path, tmp_path: Path) -> None:
    """The field's own verifier (wabac.js, which ReplayWeb.page runs) accepts signedData, and
    refuses it once the hash it signs is changed."""
    if not WACZ_VERIFIER.is_file():
        pytest.skip(f"{WACZ_VERIFIER} is missing (scripts/wacz-verifier.sh builds it)")
    def replaywebpage_verifies(document: dict[str, Any], name: str
                               ) -> subprocess.CompletedProcess[str]:
        path = tmp_path / name
        path.write_text(json.dumps(document))
        return subprocess.run(["node", str(REPO / "tests" / "wacz_signature_check.mjs"),
                               str(WACZ_VERIFIER), str(path)],
                              capture_output=True, text=True, timeout=60)

    document = _digest_doc(package)
    done = replaywebpage_verifies(document, "good.json")
    assert done.returncode == 0, done.stdout + done.stderr
    results = {r["id"]: r for r in json.loads(done.stdout)}
    assert results["signature"]["matched"] is True
    assert results["publicKey"]["expected"] == document["signedData"]["publicKey"]
    document["signedData"]["hash"] = "sha256:" + "0" * 64
    refused = replaywebpage_verifies(document, "bad.json")
    assert refused.returncode == 1, refused.stdout + refused.stderr


def test_export_of_a_bundle_without_warcs_writes_nothing(tmp_path: Path) -> None:
    from audit.evidence.bundle import BundleWriter

    writer = BundleWriter(tmp_path / "runs", run_id="bare", policy_digest="p")
    writer.finish()
    out = tmp_path / "out" / "bare.wacz"
    with pytest.raises(WaczError, match="no WARC evidence"):
        export_wacz(writer.path, out)
    assert not out.exists() and not list(out.parent.glob(".wacz-*"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_pywb_replays_the_interstitial_byte_for_byte(package: Path, signed_run: SignedRun,
                                                     tmp_path: Path) -> None:
    if not (PYWB / "wayback").is_file():
        pytest.skip(f"pywb is not installed in {PYWB.parent} (scripts/bootstrap.sh makes it)")
    with zipfile.ZipFile(package) as wacz:
        warc = tmp_path / "crawl.warc.gz"
        warc.write_bytes(wacz.read("archive/crawl.warc.gz"))
    url, record_id = _warned_interstitial(signed_run.path)
    stamp, body = _recorded(warc, record_id)
    assert "提示".encode() in body or b"<html" in body.lower()
    work = tmp_path / "pywb"
    work.mkdir()
    subprocess.run([PYWB / "wb-manager", "init", "hulian"], cwd=work, check=True,
                   capture_output=True, timeout=120)
    subprocess.run([PYWB / "wb-manager", "add", "hulian", warc], cwd=work, check=True,
                   capture_output=True, timeout=120)
    port = _free_port()
    server = subprocess.Popen([PYWB / "wayback", "-b", "127.0.0.1", "-p", str(port)],
                              cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        replay = f"http://127.0.0.1:{port}/hulian/{stamp}id_/{url}"
        replayed = None
        deadline = time.monotonic() + 60
        while replayed is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(replay, timeout=10) as answer:
                    replayed = answer.read()
            except OSError:
                if server.poll() is not None:
                    raise AssertionError("wayback exited") from None
                time.sleep(0.5)
        assert replayed == body
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_export_command_writes_a_signed_wacz(signed_run: SignedRun, tmp_path: Path) -> None:
    out = tmp_path / "cli.wacz"
    result = hulian("export", signed_run.path, "--wacz", out, "--sign-key",
                    signed_run.key.private)
    assert result.exit_code == 0, result.output
    assert "WACZ:" in result.stderr and signed_run.key.fingerprint in result.stderr
    assert check_wacz_signature(out, {signed_run.key.fingerprint}).valid
    assert validate(out)[0]


def test_export_command_refuses_bad_input_and_writes_nothing(signed_run: SignedRun,
                                                             tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "bad.wacz"
    result = hulian("export", signed_run.path, "--wacz", out, "--sign-key",
                    tmp_path / "missing.key")
    assert result.exit_code == 1 and "no such key file" in result.stderr
    assert not out.exists()
    copy = tmp_path / "copy"
    shutil.copytree(signed_run.path, copy)
    warc = copy / "evidence" / "crawl.warc.gz"
    warc.write_bytes(warc.read_bytes() + b"\n")
    result = hulian("export", copy, "--wacz", out)
    assert result.exit_code == 6, result.output  # the bundle fails verification
    assert not out.exists()
    assert not list(tmp_path.glob(".wacz-*"))
