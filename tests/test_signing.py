"""Tests for audit.evidence.signing and `hulian keys`: Ed25519 keys, signature.json, trust."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from audit.cli import app
from audit.evidence.bundle import (
    OBSERVATIONS,
    SIGNATURE,
    BundleError,
    BundleWriter,
    lines_of,
    read_manifest,
    rewrite_verdicts,
    seal,
    verify,
)
from audit.evidence.custody import sign_bundle
from audit.evidence.signing import (
    PRIVATE_NAME,
    PUBLIC_NAME,
    KeyFiles,
    SigningError,
    check_signature,
    check_wacz_signed_data,
    generate_key,
    load_public,
    load_signer,
    load_trusted,
    normalise_fingerprint,
    sign,
    sign_wacz,
    wacz_public_key,
)
from audit.model import Observation, Outcome, SurfaceKind

ENV = {"COLUMNS": "500", "HULIAN_POLICIES": None, "NO_COLOR": "1",
       "HULIAN_SIGN_KEY": None, "HULIAN_SIGN_PASSPHRASE_FILE": None}
DIGEST = "ab" * 32
WHEN = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def hulian(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


@pytest.fixture
def passphrase(tmp_path: Path) -> Path:
    file = tmp_path / "passphrase"
    file.write_text("correct horse 马\n", encoding="utf-8")
    return file


# --- keys -------------------------------------------------------------------------------


def test_generate_writes_a_0600_private_key_and_its_public_key(tmp_path: Path) -> None:
    files = generate_key(tmp_path / "keys")
    assert stat.S_IMODE(files.private.stat().st_mode) == 0o600
    assert files.private.name == PRIVATE_NAME and files.public.name == PUBLIC_NAME
    assert b"BEGIN PRIVATE KEY" in files.private.read_bytes()
    assert load_signer(files.private).fingerprint == files.fingerprint
    assert load_public(files.public).hex() != files.fingerprint
    assert normalise_fingerprint(files.fingerprint) == files.fingerprint


def test_cli_generate_and_show_agree(tmp_path: Path, passphrase: Path) -> None:
    result = hulian("keys", "generate", "--out", tmp_path / "k", "--passphrase-file",
                    passphrase, "--json")
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert made["encrypted"] is True
    assert b"ENCRYPTED PRIVATE KEY" in Path(made["private_key"]).read_bytes()
    shown = hulian("keys", "show", made["public_key"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.strip() == made["fingerprint"]
    from_private = hulian("keys", "show", made["private_key"], "--passphrase-file", passphrase)
    assert from_private.stdout.strip() == made["fingerprint"]


def test_generate_never_replaces_a_key(tmp_path: Path) -> None:
    first = generate_key(tmp_path)
    before = first.private.read_bytes()
    result = hulian("keys", "generate", "--out", tmp_path)
    assert result.exit_code == 1
    assert "already exists" in result.stderr and "Traceback" not in result.output
    assert first.private.read_bytes() == before


def test_generate_into_an_unwritable_place_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SigningError, match="cannot write the key"):
        generate_key(blocker / "keys")
    assert not (blocker.parent / "keys").exists()


def test_wrong_and_missing_passphrases_are_named(tmp_path: Path, passphrase: Path) -> None:
    files = generate_key(tmp_path / "k", passphrase.read_bytes().splitlines()[0])
    with pytest.raises(SigningError, match="protected by a passphrase"):
        load_signer(files.private)
    with pytest.raises(SigningError, match="wrong passphrase"):
        load_signer(files.private, b"guess")
    plain = generate_key(tmp_path / "plain")
    with pytest.raises(SigningError, match="not protected by a passphrase"):
        load_signer(plain.private, b"guess")
    result = hulian("keys", "show", files.private, "--passphrase-file", tmp_path / "none")
    assert result.exit_code == 1 and "cannot read the passphrase file" in result.stderr
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    result = hulian("keys", "show", files.private, "--passphrase-file", empty)
    assert result.exit_code == 1 and "passphrase file is empty" in result.stderr


def test_missing_unreadable_and_foreign_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(SigningError, match="no such key file"):
        load_signer(tmp_path / "absent.key")
    with pytest.raises(SigningError, match="is a directory"):
        load_signer(tmp_path)
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SigningError, match="not a readable PEM private key"):
        load_signer(garbage)
    public = generate_key(tmp_path / "k").public
    with pytest.raises(SigningError, match="this is a public key"):
        load_signer(public)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    other = tmp_path / "ec.key"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(SigningError, match="not an Ed25519 key"):
        load_signer(other)
    result = hulian("keys", "show", tmp_path / "absent.key")
    assert result.exit_code == 1 and "no such key file" in result.stderr
    assert "Traceback" not in result.output


def test_fingerprints_as_typed() -> None:
    fp = "0123456789abcdef" * 4
    assert normalise_fingerprint(fp.upper()) == fp
    assert normalise_fingerprint("sha256:" + ":".join(fp[i:i + 2] for i in range(0, 64, 2))) == fp
    assert normalise_fingerprint(fp[:16]) is None  # a prefix is not a fingerprint
    assert normalise_fingerprint("zz" * 32) is None


def test_trusted_keys_file(tmp_path: Path) -> None:
    one, two = generate_key(tmp_path / "a"), generate_key(tmp_path / "b")
    file = tmp_path / "trusted"
    file.write_text(f"# lab\n{one.fingerprint} the lab's key\n\n"
                    + two.public.read_text(), encoding="utf-8")
    assert load_trusted(file) == {one.fingerprint, two.fingerprint}
    file.write_text(f"{one.fingerprint}\nnot-a-fingerprint\n", encoding="utf-8")
    with pytest.raises(SigningError, match=r"trusted:2: not a key fingerprint"):
        load_trusted(file)
    file.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(SigningError, match="lists no trusted key"):
        load_trusted(file)
    file.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n", encoding="utf-8")
    with pytest.raises(SigningError, match="not closed"):
        load_trusted(file)


# --- signatures (pure) ------------------------------------------------------------------


@pytest.fixture
def document(tmp_path: Path) -> dict[str, str]:
    return sign(load_signer(generate_key(tmp_path).private), DIGEST, WHEN)


def test_a_signature_verifies_over_its_manifest(document: dict[str, str]) -> None:
    check = check_signature(document, DIGEST)
    assert check.valid and check.trusted is None
    assert check.signed_at == "2026-12-02T03:00:00+00:00"
    assert check_signature(document, DIGEST, {document["fingerprint"]}).trusted is True
    assert check_signature(document, DIGEST, {"0" * 64}).trusted is False


def test_another_manifest_is_not_what_was_signed(document: dict[str, str]) -> None:
    check = check_signature(document, "cd" * 32)
    assert check.state == "other_manifest"


@pytest.mark.parametrize(("field", "value", "state"), [
    ("manifest_digest", "cd" * 32, "bad_signature"),
    ("signed_at", "2020-01-01T00:00:00+00:00", "bad_signature"),
    ("signature", "A" * 86 + "==", "bad_signature"),
    ("fingerprint", "0" * 64, "malformed"),
    ("public_key", "not base64!", "malformed"),
    ("format", "something-else", "malformed"),
    ("signature", None, "malformed"),
])
def test_signature_json_edited_by_hand(document: dict[str, str], field: str,
                                       value: str | None, state: str) -> None:
    edited: dict[str, object] = {**document, field: value}
    digest = edited["manifest_digest"] if field == "manifest_digest" else DIGEST
    assert check_signature(edited, str(digest)).state == state


def test_another_key_swapped_in_is_caught(tmp_path: Path, document: dict[str, str]) -> None:
    other = sign(load_signer(generate_key(tmp_path / "other").private), DIGEST, WHEN)
    swapped = {**document, "public_key": other["public_key"],
               "fingerprint": other["fingerprint"]}
    assert check_signature(swapped, DIGEST).state == "bad_signature"
    # Re-signed whole by another key: valid, but only trust tells it from the real signer.
    assert check_signature(other, DIGEST, {document["fingerprint"]}).trusted is False


def test_not_json_is_malformed() -> None:
    assert check_signature("not JSON: Expecting value", DIGEST).state == "malformed"
    assert check_signature([1, 2], DIGEST).state == "malformed"


# --- signed bundles and `hulian verify` -------------------------------------------------


def _obs(oid: str) -> Observation:
    return Observation(id=oid, probe_id=f"p-{oid}", run_id="r1", source="weixin",
                       surface=SurfaceKind.IM_PRIVATE, target_url="https://item.taobao.com/1",
                       target_platform="taobao", outcome=Outcome.COPY_ONLY)


@pytest.fixture
def key(tmp_path: Path) -> KeyFiles:
    return generate_key(tmp_path / "keys")


@pytest.fixture
def signed(tmp_path: Path, key: KeyFiles) -> Path:
    writer = BundleWriter(tmp_path / "runs", run_id="r1", policy_digest="p")
    writer.add_observation(_obs("a"))
    writer.add_observation(_obs("b"))
    writer.finish()
    sign_bundle(writer.path, load_signer(key.private))
    return writer.path


def test_a_signed_bundle_verifies_and_names_its_signer(signed: Path, key: KeyFiles) -> None:
    assert (signed / SIGNATURE).is_file()
    assert SIGNATURE not in read_manifest(signed).files  # it covers the manifest
    result = hulian("verify", signed)
    assert result.exit_code == 0, result.output
    assert "consistency 一致性: intact" in result.stdout
    assert f"key {key.fingerprint} sealed exactly this manifest" in result.stdout
    trusted = hulian("verify", signed, "--trust", key.fingerprint.upper())
    assert trusted.exit_code == 0 and "a trusted key" in trusted.stdout
    data = json.loads(hulian("verify", signed, "--json", "--trust", key.fingerprint).stdout)
    assert data["custody"]["signature"] == {
        "state": "valid", "fingerprint": key.fingerprint, "trusted": True, "detail": "",
        "signed_at": data["custody"]["signature"]["signed_at"]}
    assert data["custody"]["manifest_digest"] == read_manifest(signed).manifest_digest


def test_trust_in_another_key_is_exit_10(signed: Path, tmp_path: Path) -> None:
    other = generate_key(tmp_path / "other")
    result = hulian("verify", signed, "--trust", other.fingerprint)
    assert result.exit_code == 10, result.output
    assert "NOT a trusted key" in result.stdout
    listed = tmp_path / "trusted"
    listed.write_text(other.public.read_text(), encoding="utf-8")
    assert hulian("verify", signed, "--trusted-keys", listed).exit_code == 10
    bad = hulian("verify", signed, "--trust", "abc")
    assert bad.exit_code == 2 and "64 hex digits" in bad.output


def test_unsigned_bundle_is_consistency_only(signed: Path, key: KeyFiles) -> None:
    (signed / SIGNATURE).unlink()
    result = hulian("verify", signed)
    assert result.exit_code == 0, result.output
    assert "unsigned: consistency only" in result.stdout
    required = hulian("verify", signed, "--trust", key.fingerprint)
    assert required.exit_code == 10 and "unsigned" in required.stdout


def test_rewritten_file_and_manifest_are_caught_by_the_signature(signed: Path) -> None:
    file = signed / OBSERVATIONS
    file.write_bytes(file.read_bytes().replace(b'"copy_only"', b'"direct"'))
    seal(signed, read_manifest(signed))  # what a forger does: the hashes agree again
    assert verify(signed).intact
    result = hulian("verify", signed)
    assert result.exit_code == 1, result.output
    assert "consistency 一致性: intact" in result.stdout
    assert "origin 来源: FAILS 不成立 (other_manifest)" in result.stdout
    # ... and also when the forger edits signature.json to name the new manifest
    document = json.loads((signed / SIGNATURE).read_text())
    document["manifest_digest"] = read_manifest(signed).manifest_digest
    (signed / SIGNATURE).write_text(json.dumps(document))
    result = hulian("verify", signed)
    assert result.exit_code == 1 and "(bad_signature)" in result.stdout


def test_signature_json_edited_by_hand_fails_verify(signed: Path) -> None:
    document = json.loads((signed / SIGNATURE).read_text())
    document["signed_at"] = "2020-01-01T00:00:00+00:00"  # backdated
    (signed / SIGNATURE).write_text(json.dumps(document))
    result = hulian("verify", signed)
    assert result.exit_code == 1 and "(bad_signature)" in result.stdout
    (signed / SIGNATURE).write_text("{ not json")
    result = hulian("verify", signed)
    assert result.exit_code == 1 and "(malformed)" in result.stdout and "not JSON" in result.stdout


def test_extra_and_missing_files_fail_a_signed_bundle(signed: Path) -> None:
    (signed / "evidence" / "planted.warc.gz").write_bytes(b"x")
    result = hulian("verify", signed)
    assert result.exit_code == 1 and "unlisted" in result.stdout
    (signed / "evidence" / "planted.warc.gz").unlink()
    (signed / OBSERVATIONS).unlink()
    result = hulian("verify", signed)
    assert result.exit_code == 1 and "missing" in result.stdout


def test_resealing_by_evaluate_drops_the_signature_and_records_it(signed: Path,
                                                                 key: KeyFiles) -> None:
    rewrite_verdicts(signed, lines_of([]), "new-policies")
    assert not (signed / SIGNATURE).exists()
    entry = read_manifest(signed).config["evaluations"]
    assert isinstance(entry, list)
    superseded = entry[-1]["superseded_attestations"][SIGNATURE]
    assert superseded["fingerprint"] == key.fingerprint
    result = hulian("verify", signed)
    assert result.exit_code == 0 and "unsigned: consistency only" in result.stdout


def test_an_unsealed_run_is_not_signed(tmp_path: Path, key: KeyFiles) -> None:
    writer = BundleWriter(tmp_path / "runs", run_id="open", policy_digest="p")
    writer.close()
    with pytest.raises(BundleError, match="never sealed"):
        sign_bundle(writer.path, load_signer(key.private))
    assert not (writer.path / SIGNATURE).exists()


def test_run_with_a_wrong_passphrase_writes_nothing(tmp_path: Path, passphrase: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HULIAN_DB", "off")
    files = generate_key(tmp_path / "k", b"the right one")
    out = tmp_path / "runs"
    result = hulian("run", "--lab", "--out", out, "--sign-key", files.private,
                    "--sign-passphrase-file", passphrase)
    assert result.exit_code == 1, result.output
    assert "wrong passphrase" in result.stderr
    assert not out.exists()
    result = hulian("run", "--lab", "--out", out, "--sign-key", tmp_path / "nope.key")
    assert result.exit_code == 1 and "no such key file" in result.stderr
    assert not out.exists()
    result = hulian("run", "--lab", "--out", out, "--sign-key", files.private,
                    "--tsa", "ftp://tsa.example")
    assert result.exit_code != 0 and not out.exists()


def test_sign_key_from_the_environment(tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HULIAN_DB", "off")
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", "--lab", "--out", str(out)],
                                env={**ENV, "HULIAN_SIGN_KEY": str(tmp_path / "env.key")})
    assert result.exit_code == 1, result.output
    assert "env.key: no such key file" in result.stderr
    assert not out.exists()


def test_a_bad_trusted_keys_file_is_named_with_its_line(signed: Path, tmp_path: Path) -> None:
    listed = tmp_path / "trusted.txt"
    listed.write_text("# ours\nnot-a-key\n", encoding="utf-8")
    result = hulian("verify", signed, "--trusted-keys", listed)
    assert result.exit_code == 2, result.output
    assert "trusted.txt:2: not a key fingerprint" in result.stderr


def test_the_wacz_key_is_derived_from_the_hulian_key(tmp_path: Path) -> None:
    """The WACZ specification's P-384 key is the same each time for the same hulian key,
    another for another key; signedData made with it verifies, and fails for any other hash
    or created time."""
    first = generate_key(tmp_path / "a")
    second = generate_key(tmp_path / "b")
    again = load_signer(first.private)
    assert wacz_public_key(load_signer(first.private)) == wacz_public_key(again)
    assert wacz_public_key(again) != wacz_public_key(load_signer(second.private))
    package_hash = "sha256:" + "ab" * 32
    signed = sign_wacz(again, package_hash, "2026-12-02T00:00:00Z")
    assert check_wacz_signed_data(signed, package_hash, "2026-12-02T00:00:00Z") is None
    assert "another" in str(check_wacz_signed_data(signed, "sha256:" + "cd" * 32,
                                                   "2026-12-02T00:00:00Z"))
    assert "created" in str(check_wacz_signed_data(signed, package_hash, "2020-01-01"))
    forged = dict(signed, hash="sha256:" + "cd" * 32)
    assert "does not verify" in str(check_wacz_signed_data(forged, forged["hash"],
                                                           "2026-12-02T00:00:00Z"))
    assert "lacks" in str(check_wacz_signed_data({"hash": package_hash}, package_hash, None))
