"""``kaskada completion bash|zsh|fish``: a completion script made from the parsers.

The script holds the verbs and flags as they are now (regenerate it after an
upgrade); profile names are asked at completion time from
``kaskada profile list --names``, which reads one TOML file and never loads
grpc or the keyring, so completing stays fast.
"""

from __future__ import annotations

import argparse

from kaskada.cli import build_parser

# Positional NAME arguments that are profile names.
_PROFILE_NAME_PATHS = (
    "profile show", "profile set", "profile get", "profile unset", "profile remove",
    "profile rename", "profile use", "profile check", "profile export",
)
_NAMES = "kaskada profile list --names 2>/dev/null"


def _completion(args: argparse.Namespace) -> int:
    tree = _tree(build_parser())
    script = {"bash": _bash, "zsh": _zsh, "fish": _fish}[args.shell](tree)
    print(script)
    return 0


Tree = dict[str, tuple[list[str], list[str], dict[str, str]]]


def _tree(parser: argparse.ArgumentParser, path: str = "", tree: Tree | None = None) -> Tree:
    """path -> (child verbs, flags, help of each child)."""
    tree = {} if tree is None else tree
    flags = sorted(  # a verb's hidden options are the global ones it refuses
        option for action in parser._actions for option in action.option_strings
        if option.startswith("--") and action.help is not argparse.SUPPRESS
    )
    children: list[str] = []
    helps: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                helps[choice.dest] = choice.help or ""
            for name, child in action.choices.items():
                if name in helps:  # aliases (ls, rm) work but are not offered
                    children.append(name)
                    _tree(child, f"{path} {name}".strip(), tree)
    tree[path] = (children, flags, helps)
    return tree


def _bash(tree: Tree) -> str:
    children = "\n".join(f'        "{path}") echo "{" ".join(kids)}" ;;'
                         for path, (kids, _, _) in tree.items())
    flags = "\n".join(f'        "{path}") echo "{" ".join(opts)}" ;;'
                      for path, (_, opts, _) in tree.items())
    names = "|".join(f'"{path}"' for path in _PROFILE_NAME_PATHS)
    return f"""# kaskada completion for bash: eval "$(kaskada completion bash)"
_kaskada_children() {{
    case "$1" in
{children}
    esac
}}
_kaskada_flags() {{
    case "$1" in
{flags}
    esac
}}
_kaskada() {{
    local cur prev path word i kids
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    path=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        case " $(_kaskada_children "$path") " in
            *" $word "*) path="${{path:+$path }}$word" ;;
        esac
    done
    if [[ "$prev" == "--profile" ]]; then
        COMPREPLY=($(compgen -W "$({_NAMES})" -- "$cur"))
        return
    fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(_kaskada_flags "$path")" -- "$cur"))
        return
    fi
    kids="$(_kaskada_children "$path")"
    if [[ -n "$kids" ]]; then
        COMPREPLY=($(compgen -W "$kids" -- "$cur"))
        return
    fi
    case "$path" in
        {names}) COMPREPLY=($(compgen -W "$({_NAMES})" -- "$cur")) ;;
    esac
}}
complete -o default -F _kaskada kaskada"""


def _zsh(tree: Tree) -> str:
    return (
        "# kaskada completion for zsh: eval \"$(kaskada completion zsh)\"\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + _bash(tree)
    )


def _fish(tree: Tree) -> str:
    lines = ["# kaskada completion for fish: kaskada completion fish | source"]
    lines.append(f"complete -c kaskada -l profile -x -a '({_NAMES.split(' 2>')[0]})'")
    for path, (kids, opts, helps) in tree.items():
        words = path.split()
        if not words:
            condition = "__fish_use_subcommand"
        else:
            seen = " && ".join(f"__fish_seen_subcommand_from {word}" for word in words)
            condition = seen
        for kid in kids:
            text = helps.get(kid, "").replace("'", "")
            lines.append(f"complete -c kaskada -f -n '{condition}' -a {kid} -d '{text}'")
        for option in opts:
            if option != "--profile":
                lines.append(f"complete -c kaskada -n '{condition}' -l {option[2:]}")
    for path in _PROFILE_NAME_PATHS:
        first, second = path.split()
        lines.append(
            f"complete -c kaskada -f -n '__fish_seen_subcommand_from {first} && "
            f"__fish_seen_subcommand_from {second}' -a '(kaskada profile list --names)'"
        )
    return "\n".join(lines)
