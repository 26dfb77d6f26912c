"""Tests for RFC 3161 timestamps (audit/evidence/timestamp.py, custody.py, `hulian timestamp`,
`hulian verify --tsa-cert`) against a TSA the tests start on 127.0.0.1 (tests/tsa.py:
`openssl ts -reply` behind http.server, with a throwaway CA). Never an outside service."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from audit.cli import app
from audit.evidence.bundle import (
    OBSERVATIONS,
    SIGNATURE,
    TIMESTAMP,
    BundleWriter,
    read_manifest,
)
from audit.evidence.custody import (
    CustodyError,
    attest_sealed_run,
    check_custody,
    timestamp_bundle,
)
from audit.evidence.signing import generate_key, load_signer
from audit.evidence.timestamp import (
    TimestampError,
    check_token,
    load_certificates,
    request_token,
)
from audit.model import Observation, Outcome, SurfaceKind
from tests.tsa import TsaServer, closed_port_url, local_tsa, make_tsa

ENV = {"COLUMNS": "500", "HULIAN_POLICIES": None, "NO_COLOR": "1", "HULIAN_TSA": None,
       "HULIAN_SIGN_KEY": None, "HULIAN_SIGN_PASSPHRASE_FILE": None}


def hulian(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TsaServer]:
    with local_tsa(tmp_path_factory.mktemp("tsa")) as server:
        yield server


@pytest.fixture(autouse=True)
def tsa_mode(tsa: TsaServer) -> Iterator[None]:
    tsa.mode = "ok"
    yield
    tsa.mode = "ok"


def _bundle(root: Path, run_id: str = "r1") -> Path:
    writer = BundleWriter(root, run_id=run_id, policy_digest="p")
    writer.add_observation(Observation(
        id="a", probe_id="p-a", run_id=run_id, source="weixin", surface=SurfaceKind.POST,
        target_url="https://item.taobao.com/1", target_platform="taobao",
        outcome=Outcome.BLOCKED))
    writer.finish()
    return writer.path


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return _bundle(tmp_path / "runs")


def _nothing_written(run: Path) -> None:
    assert not (run / TIMESTAMP).exists()
    assert not list(run.glob("*.tmp"))


def test_token_over_the_manifest_digest(run: Path, tsa: TsaServer) -> None:
    check = timestamp_bundle(run, tsa.url)
    assert check.state == "unchecked" and check.tsa == "CN=hulian test TSA"
    digest = read_manifest(run).manifest_digest
    assert digest is not None
    token = (run / TIMESTAMP).read_bytes()
    assert check_token(token, digest, load_certificates(tsa.files.ca)).state == "valid"
    # OpenSSL agrees, without hulian: the token stamps the manifest digest itself.
    verified = subprocess.run(
        ["openssl", "ts", "-verify", "-digest", digest, "-in", str(run / TIMESTAMP),
         "-CAfile", str(tsa.files.ca), "-untrusted", str(tsa.files.dir / "tsa.crt")],
        capture_output=True, text=True, timeout=60)
    assert "Verification: OK" in verified.stdout, verified.stderr


def test_verify_reports_the_time_and_checks_it_with_the_tsa_cert(run: Path,
                                                                tsa: TsaServer) -> None:
    timestamp_bundle(run, tsa.url)
    result = hulian("verify", run)
    assert result.exit_code == 0, result.output
    assert "timestamp not checked" in result.stdout and "--tsa-cert" in result.stdout
    result = hulian("verify", run, "--tsa-cert", tsa.files.ca)
    assert result.exit_code == 0, result.output
    assert "time 时间: timestamped" in result.stdout
    assert "the manifest existed by" in result.stdout
    data = json.loads(hulian("verify", run, "--json", "--tsa-cert", tsa.files.ca).stdout)
    assert data["custody"]["timestamp"]["state"] == "valid"


def test_a_timestamp_from_another_ca_fails(run: Path, tsa: TsaServer, tmp_path: Path) -> None:
    timestamp_bundle(run, tsa.url)
    stranger = make_tsa(tmp_path / "stranger", name="stranger TSA")
    result = hulian("verify", run, "--tsa-cert", stranger.ca)
    assert result.exit_code == 1, result.output
    assert "time 时间: FAILS 不成立 (bad_token)" in result.stdout


def test_tsa_cert_required_but_no_timestamp_is_exit_10(run: Path, tsa: TsaServer) -> None:
    result = hulian("verify", run, "--tsa-cert", tsa.files.ca)
    assert result.exit_code == 10, result.output
    assert "not timestamped" in result.stdout
    result = hulian("verify", run, "--tsa-cert", run / OBSERVATIONS)
    assert result.exit_code == 2 and "not a PEM or DER X.509 certificate" in result.output


def test_a_token_of_another_bundle_or_garbage_fails(run: Path, tsa: TsaServer,
                                                    tmp_path: Path) -> None:
    other = _bundle(tmp_path / "others", "r2")
    timestamp_bundle(other, tsa.url)
    (run / TIMESTAMP).write_bytes((other / TIMESTAMP).read_bytes())
    result = hulian("verify", run, "--tsa-cert", tsa.files.ca)
    assert result.exit_code == 1 and "(other_manifest)" in result.stdout
    (run / TIMESTAMP).write_bytes(b"garbage")
    result = hulian("verify", run)
    assert result.exit_code == 1 and "(bad_token)" in result.stdout


def test_rewritten_bundle_breaks_the_timestamp(run: Path, tsa: TsaServer) -> None:
    from audit.evidence.bundle import seal

    timestamp_bundle(run, tsa.url)
    manifest = read_manifest(run)
    manifest.config["note"] = "rewritten afterwards"
    seal(run, manifest)
    result = hulian("verify", run, "--tsa-cert", tsa.files.ca)
    assert result.exit_code == 1 and "(other_manifest)" in result.stdout


@pytest.mark.parametrize(("mode", "message"), [
    ("garbage", "not an RFC 3161 timestamp response"),
    ("error", "answered HTTP 500"),
    ("wrong-digest", "another request"),
])
def test_a_tsa_answering_garbage_writes_nothing(run: Path, tsa: TsaServer, mode: str,
                                                message: str) -> None:
    tsa.mode = mode
    result = hulian("timestamp", run, "--tsa", tsa.url)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "Traceback" not in result.output
    _nothing_written(run)


def test_a_tsa_that_is_down_writes_nothing(run: Path) -> None:
    result = hulian("timestamp", run, "--tsa", closed_port_url(), "--timeout", "5")
    assert result.exit_code == 1, result.output
    assert "cannot be reached" in result.stderr
    _nothing_written(run)
    result = hulian("timestamp", run, "--tsa", "file:///etc/passwd")
    assert result.exit_code == 1 and "http:// or https://" in result.stderr


def test_timestamp_later_from_the_command_line(run: Path, tsa: TsaServer) -> None:
    result = hulian("timestamp", run, "--tsa", tsa.url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tsa"] == "CN=hulian test TSA"
    assert check_custody(run, tsa_certs=[tsa.files.ca]).timestamp.state == "valid"
    first = (run / TIMESTAMP).read_bytes()
    again = hulian("timestamp", run, "--tsa", tsa.url)
    assert again.exit_code == 1 and "keeps the earliest" in again.stderr
    assert (run / TIMESTAMP).read_bytes() == first


def test_timestamp_refuses_an_altered_bundle_and_a_non_bundle(run: Path, tsa: TsaServer,
                                                              tmp_path: Path) -> None:
    file = run / OBSERVATIONS
    file.write_bytes(file.read_bytes().replace(b"blocked", b"direct_"))
    result = hulian("timestamp", run, "--tsa", tsa.url)
    assert result.exit_code == 1 and "fails verification" in result.stderr
    _nothing_written(run)
    result = hulian("timestamp", tmp_path, "--tsa", tsa.url)
    assert result.exit_code == 7


def test_at_the_seal_a_failing_tsa_leaves_a_signed_sealed_bundle(run: Path, tmp_path: Path
                                                                ) -> None:
    signer = load_signer(generate_key(tmp_path / "k").private)
    with pytest.raises(CustodyError, match=r"sealed and signed in .* `hulian timestamp "):
        attest_sealed_run(run, signer, closed_port_url())
    assert (run / SIGNATURE).is_file()
    _nothing_written(run)
    assert check_custody(run).signature.valid


def test_request_token_checks_the_url() -> None:
    with pytest.raises(TimestampError, match="http:// or https://"):
        request_token(b"x", "tsa.example.org")
