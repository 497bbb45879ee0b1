"""The grammar of ``kaskada completion``; the script is made in ``kaskada.cli.completion``."""

from __future__ import annotations

from typing import Any

from kaskada.cli.parsers import takes, verb


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for verbs, flags and profile names.",
    )
    parser.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell")
    parser.epilog = (
        "install:\n"
        "  bash: echo 'eval \"$(kaskada completion bash)\"' >> ~/.bashrc\n"
        "  zsh:  echo 'eval \"$(kaskada completion zsh)\"' >> ~/.zshrc\n"
        "  fish: kaskada completion fish > ~/.config/fish/completions/kaskada.fish"
    )
    takes(parser)
    parser.set_defaults(handler=verb("kaskada.cli.completion", "_completion"))
