"""`hulian keys generate | show`: the Ed25519 keys that sign run bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from audit.cli.console import fail, stdout
from audit.evidence.signing import (
    SigningError,
    fingerprint_of,
    generate_key,
    load_public,
    read_passphrase,
)

app = typer.Typer(help="Signing keys for run bundles (Ed25519) 签名密钥.",
                  no_args_is_help=True)

PassphraseFile = Annotated[Path | None, typer.Option(
    "--passphrase-file", help="Read the key's passphrase from the first line of this file "
                              "(never from the command line, where `ps` would show it).")]


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Directory for the key pair.")],
    passphrase_file: PassphraseFile = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")
                           ] = False,
) -> None:
    """Make a new signing key pair in OUT: hulian-signing.key (the private key, mode 0600,
    encrypted with the passphrase if one is given) and hulian-signing.pub (the public key, to
    hand to whoever verifies your runs). An existing key is never replaced.

    Sign runs with `hulian run --sign-key OUT/hulian-signing.key`; readers check them with
    `hulian verify RUN --trust FINGERPRINT`.

    Example:

      hulian keys generate --out ~/.config/hulian/keys --passphrase-file pass.txt
    """
    try:
        passphrase = read_passphrase(passphrase_file) if passphrase_file else None
        files = generate_key(out, passphrase)
    except SigningError as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    if json_output:
        stdout.out(json.dumps({"private_key": str(files.private), "public_key": str(files.public),
                               "fingerprint": files.fingerprint, "encrypted": bool(passphrase)}))
        return
    stdout.print(f"private key 私钥: {escape(str(files.private))} (0600"
                 + (", passphrase 已加密" if passphrase else ", no passphrase 未加密") + ")")
    stdout.print(f"public key 公钥:  {escape(str(files.public))}")
    stdout.print(f"fingerprint 指纹: {files.fingerprint}")


@app.command()
def show(
    key: Annotated[Path, typer.Argument(
        metavar="KEY", help="A public key (.pub) or a private key file.")],
    passphrase_file: PassphraseFile = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")
                           ] = False,
) -> None:
    """Print a key's fingerprint (sha256 of the Ed25519 public key, 64 hex digits): the value
    to give `hulian verify --trust` or to list in a trusted-keys file.

    Example:

      hulian keys show ~/.config/hulian/keys/hulian-signing.pub
    """
    try:
        passphrase = read_passphrase(passphrase_file) if passphrase_file else None
        fingerprint = fingerprint_of(load_public(key, passphrase))
    except SigningError as exc:
        fail(str(exc))
        raise typer.Exit(exc.exit_code) from None
    if json_output:
        stdout.out(json.dumps({"key": str(key), "algorithm": "Ed25519",
                               "fingerprint": fingerprint}))
    else:
        stdout.out(fingerprint)
