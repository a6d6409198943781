"""`ectui completion bash|zsh|fish`: a shell completion script made from the live argparse tree.

Subcommands, options and fixed choices are written into the script when it is printed (from the parser
of this very ectui, so new commands and options appear by themselves); names of things (clusters,
projects, VMs, images, ISOs, templates) come at TAB time from the hidden `ectui __complete KIND PREFIX`,
which reads the console database read-only (no migrations, no cloud, no openstacksdk) and prints one
value per line (`ID<TAB>name` for id arguments); it prints nothing and exits 0 on any error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")
COMPLETE_COMMAND = "__complete"
"""The hidden subcommand the scripts call for names: `ectui __complete [--db-url URL] KIND [PREFIX]`."""

ARGUMENT_KINDS: tuple[tuple[str, str, str], ...] = (
    # (command path, argument, kind): the first row whose patterns (fnmatch) match wins. The command path
    # is the words after `ectui` ('' at the top). The argument is an option string ('--cluster'); or a
    # positional argument's metavar or its dest in upper case ('VM'); or '=' and a metavar of any
    # argument ('=FILE*'), metavars as the English tree has them (they are translated). Kinds: one of
    # NAME_KINDS, 'file', 'choice:a,b', or '' (nothing to offer). Choices and Path types need no row.
    ("cluster add", "--project", ""),  # a project of the cloud, not of this console
    ("cluster *", "NAME", "cluster"),
    ("project *", "NAME", "project"),
    ("iso resume", "ID", ""),  # upload ids (`ectui iso uploads`), not ISO ids
    ("iso discard", "ID", ""),
    ("image *", "ID", "image-id"),
    ("template *", "ID", "template-id"),
    ("iso *", "ID", "iso-id"),
    ("*", "--cluster", "cluster"),
    ("*", "CLUSTER", "cluster"),
    ("*", "--project", "project"),
    ("*", "--vm", "vm"),
    ("*", "VM", "vm"),
    ("*", "--template", "template"),
    ("*", "--image", "image-id"),
    ("*", "--iso", "iso"),
    ("*", "ISO", "iso"),
    ("", "--lang", "choice:en,zh_CN"),
    ("*", "=FILE*", "file"),
    ("*", "--csv", "file"),
)
"""Which arguments name things of the console: the one table that decides it."""

NAME_LIMIT = 500
"""At most this many names per TAB (a prefix narrows them)."""


# ------------------------------------------------------------------ the parser as data


@dataclass
class Option:
    strings: list[str]
    help: str
    kind: str | None
    """None for a flag; else what its value is (see ARGUMENT_KINDS)."""


@dataclass
class Level:
    """One parser of the tree: `ectui`, `ectui vm`, `ectui vm create` …"""

    path: tuple[str, ...]
    help: str = ""
    subcommands: list[tuple[str, str]] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    positionals: list[str] = field(default_factory=list)
    repeat_last: bool = False


def argument_kind(path: Sequence[str], action: argparse.Action) -> str:
    """What an argument's value is, from ARGUMENT_KINDS, else its choices, else 'file' for a Path, else ''."""
    where = " ".join(path)
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    keys = list(action.option_strings) or [metavar or action.dest.upper(), action.dest.upper()]
    if metavar:
        keys.append("=" + metavar)
    for command, argument, kind in ARGUMENT_KINDS:
        if fnmatchcase(where, command) and any(fnmatchcase(k, argument) for k in keys):
            return kind
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        return "choice:" + ",".join(str(c) for c in action.choices)
    if action.type is Path:
        return "file"
    return ""


def _help(action: argparse.Action | Any) -> str:
    text = action.help or ""
    return "" if text == argparse.SUPPRESS else " ".join(str(text).split())


def levels(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), help: str = "") -> Iterator[Level]:
    """Every parser of the tree, parents first; hidden subcommands (help=SUPPRESS, '__…') are left out."""
    level = Level(path, help)
    children: list[tuple[str, argparse.ArgumentParser, str]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: _help(a) for a in action._choices_actions}
            hidden: set[str] = getattr(action, "hidden", set())
            for name, child in action.choices.items():
                if name.startswith("__") or name in hidden:
                    continue
                level.subcommands.append((name, helps.get(name, "")))
                children.append((name, child, helps.get(name, "")))
        elif action.option_strings:
            takes_value = action.nargs != 0
            kind = argument_kind(path, action) if takes_value else None
            level.options.append(Option(list(action.option_strings), _help(action), kind))
        elif action.help != argparse.SUPPRESS:
            level.positionals.append(argument_kind(path, action))
            level.repeat_last = action.nargs in ("*", "+", argparse.REMAINDER)
    yield level
    for name, child, text in children:
        yield from levels(child, (*path, name), text)


def root_parser() -> argparse.ArgumentParser:
    from ectui.commands.tree import build_parser

    return build_parser()


def tree() -> list[Level]:
    """The levels of ectui's parser: kinds from the English tree, help texts in the UI language."""
    from ectui.i18n import language, set_language

    lang = language()
    set_language("en")
    try:
        english = list(levels(root_parser()))
    finally:
        set_language(lang)
    if lang == "en":
        return english
    local = {level.path: level for level in levels(root_parser())}
    for level in english:
        other = local.get(level.path)
        if other is None:
            continue
        level.help = other.help
        subcommands = dict(other.subcommands)
        level.subcommands = [(name, subcommands.get(name, text)) for name, text in level.subcommands]
        options = {tuple(o.strings): o.help for o in other.options}
        for option in level.options:
            option.help = options.get(tuple(option.strings), option.help)
    return english


# ------------------------------------------------------------------ scripts


def _sq(text: str) -> str:
    """A single-quoted shell word (bash, zsh and fish alike; fish also reads \\' inside quotes)."""
    return "'" + text.replace("'", "'\\''") + "'"


def _fish_sq(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _values(level: Level) -> str:
    """' --opt=kind …' for the options that take a value (kind may be empty)."""
    return " ".join(f"{s}={o.kind}" for o in level.options if o.kind is not None for s in o.strings)


def _positionals(level: Level) -> str:
    return " ".join(k or "-" for k in level.positionals)


def _case(level: Level, subs: str, opts: str) -> str:
    """One level of the tree as a case of the bash and zsh scripts' lookup (subs and opts already quoted)."""
    return (
        f"    {_sq(' '.join(level.path))})\n"
        f"        _ectui_subs={subs}\n"
        f"        _ectui_opts={opts}\n"
        f"        _ectui_vals={_sq(_values(level))}\n"
        f"        _ectui_pos={_sq(_positionals(level))}\n"
        f"        _ectui_rep={'1' if level.repeat_last else ''} ;;"
    )


def bash_script(tree: Sequence[Level]) -> str:
    cases = []
    for level in tree:
        subs = " ".join(name for name, _ in level.subcommands)
        opts = " ".join(s for o in level.options for s in o.strings)
        cases.append(_case(level, _sq(subs), _sq(opts)))
    return _BASH.replace("@CASES@", "\n".join(cases)).replace("@HEADER@", _header("bash"))


def zsh_script(tree: Sequence[Level]) -> str:
    def described(items: list[tuple[str, str]]) -> str:
        return " ".join(_sq(name.replace(":", "\\:") + (":" + text if text else "")) for name, text in items)

    cases = []
    for level in tree:
        opts = [(s, o.help) for o in level.options for s in o.strings]
        cases.append(_case(level, f"({described(level.subcommands)})", f"({described(opts)})"))
    return _ZSH.replace("@CASES@", "\n".join(cases)).replace("@HEADER@", _header("zsh"))


def fish_script(tree: Sequence[Level]) -> str:
    def described(items: list[tuple[str, str]]) -> str:
        return " ".join(_fish_sq(name + ("\t" + text if text else "")) for name, text in items)

    cases = []
    for level in tree:
        opts = [(s, o.help) for o in level.options for s in o.strings]
        cases.append(
            f"        case {_fish_sq(' '.join(('ectui', *level.path)))}\n"
            f"            set -g __ectui_subs {described(level.subcommands)}\n"
            f"            set -g __ectui_opts {described(opts)}\n"
            f"            set -g __ectui_vals {' '.join(_fish_sq(v) for v in _values(level).split())}\n"
            f"            set -g __ectui_pos {' '.join(_fish_sq(k or '-') for k in level.positionals)}\n"
            f"            set -g __ectui_rep {'1' if level.repeat_last else ''}"
        )
    return _FISH.replace("@CASES@", "\n".join(cases)).replace("@HEADER@", _header("fish"))


SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}

INSTALL = {
    "bash": 'eval "$(ectui completion bash)" in ~/.bashrc',
    "zsh": 'eval "$(ectui completion zsh)" in ~/.zshrc, after compinit',
    "fish": "ectui completion fish > ~/.config/fish/completions/ectui.fish",
}
"""How to load each script (shown in its header, in `ectui completion --help` and the man page)."""


def _header(shell: str) -> str:
    from ectui import __version__

    return (
        f"# {shell} completion for ectui {__version__}, made by `ectui completion {shell}` from its commands.\n"
        f"# Load it with:  {INSTALL[shell]}\n"
        "# Names of clusters, projects, VMs, images, ISOs and templates come from `ectui __complete`."
    )


_BASH = r"""@HEADER@

_ectui_spec() {
    _ectui_subs= _ectui_opts= _ectui_vals= _ectui_pos= _ectui_rep=
    case "$1" in
@CASES@
    esac
}

_ectui_value_kind() {  # the kind of option $1's value in _ectui_kind; status 1 for a flag
    local item
    for item in $_ectui_vals; do
        if [[ ${item%%=*} == "$1" ]]; then
            _ectui_kind=${item#*=}
            return 0
        fi
    done
    return 1
}

_ectui_offer() {  # $1 kind, $2 word so far, $3 program, $4 --db-url
    local line words
    local -a args=()
    case $1 in
    '' | -) ;;
    file)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$2"))
        ;;
    choice:*)
        words=${1#choice:}
        COMPREPLY=($(compgen -W "${words//,/ }" -- "$2"))
        ;;
    *)
        [[ -n $4 ]] && args=(--db-url "$4")
        while IFS= read -r line; do
            line=${line%%$'\t'*}
            [[ -n $line && $line == "$2"* ]] && COMPREPLY+=("$(printf '%q' "$line")")
        done < <("$3" __complete "${args[@]}" -- "$1" "$2" 2>/dev/null)
        ;;
    esac
}

_ectui() {
    local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]} p= word expect= dburl= i n=0
    local _ectui_subs _ectui_opts _ectui_vals _ectui_pos _ectui_rep _ectui_kind
    [[ $prog == "~/"* ]] && prog=$HOME/${prog#"~/"}
    COMPREPLY=()
    _ectui_spec ''
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ -n $expect ]]; then
            [[ $word == = ]] && continue
            [[ $expect == --db-url && -z $p ]] && dburl=$word
            expect=
            continue
        fi
        case $word in
        --) ;;
        -*=*) [[ ${word%%=*} == --db-url && -z $p ]] && dburl=${word#*=} ;;
        -*) _ectui_value_kind "$word" && expect=$word ;;
        *)
            if [[ " $_ectui_subs " == *" $word "* ]]; then
                p=${p:+$p }$word
                _ectui_spec "$p"
                n=0
            else
                n=$((n + 1))
            fi
            ;;
        esac
    done
    [[ $cur == = ]] && cur=
    if [[ -n $expect ]]; then
        _ectui_value_kind "$expect"
        _ectui_offer "$_ectui_kind" "$cur" "$prog" "$dburl"
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$_ectui_opts" -- "$cur"))
    elif [[ -n $_ectui_subs ]]; then
        COMPREPLY=($(compgen -W "$_ectui_subs" -- "$cur"))
    else
        local -a kinds=($_ectui_pos)
        if ((n >= ${#kinds[@]})); then
            [[ -n $_ectui_rep ]] && n=$((${#kinds[@]} - 1)) || n=-1
        fi
        if ((n >= 0)); then
            _ectui_offer "${kinds[n]}" "$cur" "$prog" "$dburl"
        fi
    fi
    return 0
}

complete -F _ectui ectui
"""

_ZSH = r"""#compdef ectui
@HEADER@

_ectui_spec() {
    _ectui_subs=() _ectui_opts=() _ectui_vals= _ectui_pos= _ectui_rep=
    case "$1" in
@CASES@
    esac
}

_ectui_value_kind() {  # the kind of option $1's value in _ectui_kind; status 1 for a flag
    local item
    for item in ${=_ectui_vals}; do
        if [[ ${item%%=*} == "$1" ]]; then
            _ectui_kind=${item#*=}
            return 0
        fi
    done
    return 1
}

_ectui_offer() {  # $1 kind, $2 program, $3 --db-url
    local line
    local -a args plain described
    case $1 in
    '' | -) _message 'value' ;;
    file) _files ;;
    choice:*)
        plain=(${(s:,:)${1#choice:}})
        compadd -a plain
        ;;
    *)
        [[ -n $3 ]] && args=(--db-url "$3")
        for line in "${(@f)$(command "$2" __complete "${args[@]}" -- "$1" "$PREFIX" 2>/dev/null)}"; do
            [[ -z $line ]] && continue
            if [[ $line == *$'\t'* ]]; then
                described+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
            else
                plain+=("$line")
            fi
        done
        (( $#described )) && _describe -t names "$1" described
        (( $#plain )) && compadd -a plain
        ;;
    esac
    return 0
}

_ectui() {
    local cur=${words[CURRENT]} prog=${words[1]} p= word expect= dburl= i n=0 _ectui_kind
    local _ectui_vals _ectui_pos _ectui_rep
    local -a _ectui_subs _ectui_opts kinds
    _ectui_spec ''
    for (( i = 2; i < CURRENT; i++ )); do
        word=${words[i]}
        if [[ -n $expect ]]; then
            [[ $expect == --db-url && -z $p ]] && dburl=$word
            expect=
            continue
        fi
        case $word in
        --) ;;
        -*=*) [[ ${word%%=*} == --db-url && -z $p ]] && dburl=${word#*=} ;;
        -*) _ectui_value_kind "$word" && expect=$word ;;
        *)
            if (( ${_ectui_subs[(I)${(b)word}(|:*)]} )); then
                p=${p:+$p }$word
                _ectui_spec "$p"
                n=0
            else
                n=$(( n + 1 ))
            fi
            ;;
        esac
    done
    if [[ -n $expect ]]; then
        _ectui_value_kind "$expect"
        _ectui_offer "$_ectui_kind" "$prog" "$dburl"
    elif [[ $cur == -*=* ]] && _ectui_value_kind "${cur%%=*}"; then
        compset -P '*='
        _ectui_offer "$_ectui_kind" "$prog" "$dburl"
    elif [[ $cur == -* ]]; then
        _describe -t options option _ectui_opts
    elif (( $#_ectui_subs )); then
        _describe -t commands command _ectui_subs
    else
        kinds=(${=_ectui_pos})
        if (( n >= $#kinds )); then
            if [[ -n $_ectui_rep ]]; then n=$(( $#kinds - 1 )); else n=-1; fi
        fi
        (( n >= 0 )) && _ectui_offer "${kinds[n + 1]}" "$prog" "$dburl"
    fi
    return 0
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _ectui "$@"
else
    compdef _ectui ectui
fi
"""

_FISH = r"""@HEADER@

function __ectui_spec --argument-names p
    set -g __ectui_subs
    set -g __ectui_opts
    set -g __ectui_vals
    set -g __ectui_pos
    set -g __ectui_rep
    switch $p
@CASES@
    end
end

function __ectui_value_kind --argument-names option
    for item in $__ectui_vals
        set -l parts (string split -m 1 = -- $item)
        if test "$parts[1]" = "$option"
            set -g __ectui_kind "$parts[2]"
            return 0
        end
    end
    return 1
end

function __ectui_offer --argument-names kind cur prog dburl
    switch "$kind"
        case '' -
            return
        case file
            __fish_complete_path $cur
        case 'choice:*'
            string split , -- (string replace -r '^choice:' '' -- $kind)
        case '*'
            set -l args
            test -n "$dburl"; and set args --db-url $dburl
            command $prog __complete $args -- $kind $cur 2>/dev/null
    end
end

function __ectui_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l prog $words[1]
    set -l p ectui
    set -l expect
    set -l dburl
    set -l n 0
    __ectui_spec $p
    for word in $words[2..-1]
        if test -n "$expect"
            test "$expect" = --db-url -a "$p" = ectui; and set dburl $word
            set expect
            continue
        end
        switch $word
            case --
            case '-*=*'
                set -l parts (string split -m 1 = -- $word)
                test "$parts[1]" = --db-url -a "$p" = ectui; and set dburl $parts[2]
            case '-*'
                __ectui_value_kind $word; and set expect $word
            case '*'
                if contains -- $word (string replace -r '\t.*' '' -- $__ectui_subs)
                    set p "$p $word"
                    __ectui_spec $p
                    set n 0
                else
                    set n (math $n + 1)
                end
        end
    end
    if test -n "$expect"
        __ectui_value_kind $expect
        __ectui_offer "$__ectui_kind" $cur $prog "$dburl"
    else if string match -q -- '-*=*' $cur; and __ectui_value_kind (string split -m 1 = -- $cur)[1]
        set -l parts (string split -m 1 = -- $cur)
        for value in (__ectui_offer "$__ectui_kind" $parts[2] $prog "$dburl")
            printf '%s=%s\n' $parts[1] $value
        end
    else if string match -q -- '-*' $cur
        printf '%s\n' $__ectui_opts
    else if test (count $__ectui_subs) -gt 0
        printf '%s\n' $__ectui_subs
    else
        set -l count (count $__ectui_pos)
        if test $n -ge $count
            test -n "$__ectui_rep" -a $count -gt 0; or return
            set n (math $count - 1)
        end
        __ectui_offer $__ectui_pos[(math $n + 1)] $cur $prog "$dburl"
    end
end

complete -c ectui -f -a '(__ectui_complete)'
"""


# ------------------------------------------------------------------ names from the console database


NAME_KINDS = ("cluster", "project", "vm", "template", "iso", "image", "image-id", "iso-id", "template-id")
"""The kinds `ectui __complete` answers (names, or ids with their names), as ectui.db.reads.NAME_KINDS."""


def names(kind: str, prefix: str = "", db_url: str | None = None) -> list[str]:
    """The values of one kind that start with `prefix`, from the console database opened read-only.

    Never creates, migrates or writes a database: a missing SQLite file gives no names. Errors propagate.
    """
    from ectui.config import Settings
    from ectui.db.session import make_engine, parse_url, sqlite_path

    if kind not in NAME_KINDS:
        return []
    settings = Settings.from_env(db_url=db_url)
    url = parse_url(settings.console_db_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None or not path.is_file():
            return []
        from urllib.parse import quote

        if quote(str(path)) == str(path):  # else the default open: it writes nothing when it only reads
            url = url.set(database=f"file:{path}", query={**url.query, "mode": "ro", "uri": "true"})
    elif url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        url = url.update_query_dict({"connect_timeout": "2"})
    engine = make_engine(url.render_as_string(hide_password=False), busy_timeout=1.0)
    try:
        from ectui.db.reads import name_query

        statement = name_query(kind, prefix, NAME_LIMIT * 4)
        with engine.connect() as connection:
            rows = connection.execute(statement).all()
    finally:
        engine.dispose()
    seen: dict[str, None] = {}
    for row in rows:
        value = str(row[0])
        if not value.startswith(prefix) or any(c in value for c in "\t\n\r"):
            continue  # a name a shell cannot take as one word
        described = [" ".join(str(v).split()) for v in row[1:]]
        seen["\t".join([value, *described])] = None
    return list(seen)[:NAME_LIMIT]


def complete_main(argv: Sequence[str]) -> int:
    """`ectui __complete [--db-url URL] [--] KIND [PREFIX]`: one value per line; nothing at all on any error."""
    import logging

    logging.disable(logging.CRITICAL)  # the data layer's warnings would reach stderr (no log is set up)
    try:
        args = list(argv)
        db_url = None
        if args[:1] == ["--db-url"] and len(args) >= 2:
            db_url, args = args[1], args[2:]
        elif args[:1] and args[0].startswith("--db-url="):
            db_url, args = args[0].split("=", 1)[1], args[1:]
        if args[:1] == ["--"]:
            args = args[1:]
        if not 1 <= len(args) <= 2:
            return 0
        lines = names(args[0], args[1] if len(args) > 1 else "", db_url or None)
        if lines:
            sys.stdout.write("".join(line + "\n" for line in lines))
            sys.stdout.flush()
    except Exception:  # no database yet, a foreign file, a locked or unreachable server: no names
        pass
    finally:
        logging.disable(logging.NOTSET)
    return 0


# ------------------------------------------------------------------ commands


class _PrintScript(argparse.Action):
    """`ectui completion SHELL`: print the script at parse time (no database, no services) and exit 0."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None
    ) -> None:
        from ectui.i18n import _

        script = SCRIPTS[str(values)](tree())
        sys.stdout.write(script)
        sys.stdout.flush()
        if sys.stderr.isatty() and sys.stdout.isatty():
            print("# " + _("Load it with: {command}").format(command=INSTALL[str(values)]), file=sys.stderr)
        parser.exit(0)


class _CompleteNow(argparse.Action):
    """`ectui __complete …` through the parser: answer at parse time, before any service starts.

    (ectui.cli may answer `__complete` before it builds the parser: faster, and without the dev cloud.)"""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None
    ) -> None:
        argv = [*(["--db-url", namespace.db_url] if getattr(namespace, "db_url", None) else [])]
        parser.exit(complete_main([*argv, *values]))


def register(sub: Any) -> None:
    """Add `completion SHELL` and the hidden `__complete`."""
    from ectui.i18n import _

    completion = sub.add_parser(
        "completion",
        help=_("print a shell completion script (bash, zsh or fish)"),
        description=_("Print a shell completion script. Load it with:")
        + " "
        + "; ".join(INSTALL.values())
        + ".",
    )
    completion.add_argument("shell", choices=SHELLS, action=_PrintScript, help=_("the shell to complete for"))
    hidden = sub.add_parser(COMPLETE_COMMAND, help=argparse.SUPPRESS, add_help=False)
    hidden.add_argument("--db-url", help=argparse.SUPPRESS)
    hidden.add_argument("words", nargs="*", action=_CompleteNow, help=argparse.SUPPRESS)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ectui.commands.completion KIND [PREFIX]`: the same answer without the command tree."""
    return complete_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
