"""Join the verifier's parts and pack_main.py into the pack's one-file verify_pack.py.

`apps.audit.evidence.verifier_source()` calls `verify_pack_source()`. The result is a
stand-alone script (Python 3.9+, standard library only) that depends on nothing but the
source files: the same files give the same bytes.

Each source becomes one section, in order. Its module docstring becomes comment lines
under a banner naming the file. Its leading import block (the statements before its first
other statement) is taken out: standard-library imports are merged and written once at
the top (`from __future__` first), imports of the other parts are dropped, since the
names they import are defined earlier in the same file. Everything after the leading
block is copied unchanged. What would make the joined file wrong is refused
(`AssemblyError`) rather than guessed at: an import outside the standard library; an
import of another part outside the leading block, of a name no earlier source defines,
under another name, or with `*`; a top-level name defined by two sources, or bound by
two imports to different things, or both imported and defined; an
`if __name__ == "__main__":` block in any source but the last; an import that is not a
statement of its own, or any `;`. The joined text is compiled once as a last check.

The sources are read with `tokenize`, not `ast`: packs are built inside the app, and on
CPython 3.11 building `ast` objects while another thread does too (a traceback being
formatted is enough) can fail with "AST constructor recursion depth mismatch"
(python/cpython#106905).
"""

from __future__ import annotations

import inspect
import io
import keyword
import sys
import tokenize
from pathlib import Path

# The parts, in dependency order: each imports only from those before it.
PARTS = ("canonical", "hashing", "ed25519", "chain", "cli")
PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_PACKAGE = "apps"  # an import from here is an import of another part

HEADER = '''"""verify_pack.py: check a Warden evidence pack offline. Python 3.9+, standard library only.

    python verify_pack.py [PACK_DIR_OR_ZIP] [--key KEY_ID=ENV_VAR ...] [--trust KEY_ID=FINGERPRINT ...] [--json]

Warden builds this file from its sources, one section each, in this order:
{sources}
(the audit chain verifier, then the pack checks), with their imports gathered here.
Each section starts with the description of the source it comes from.
"""'''

_SKIPPED = (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)


class AssemblyError(ValueError):
    """The sources cannot be joined into one correct file."""


def part_sources() -> list[tuple[str, str]]:
    """(label, text) of every part, in dependency order."""
    return [(f"apps/audit/verifier/{name}.py", (PACKAGE_DIR / f"{name}.py").read_text(encoding="utf-8")) for name in PARTS]


def verify_pack_source(pack_main: Path) -> str:
    """verify_pack.py: the parts, then `pack_main` (whose `__main__` block runs the pack checks)."""
    tail = (f"apps/audit/{pack_main.name}", pack_main.read_text(encoding="utf-8"))
    return assemble([*part_sources(), tail])


def assemble(sources: list[tuple[str, str]]) -> str:
    """One module from `sources` ((label, text) pairs, each a module, in dependency order)."""
    future: set[str] = set()
    plain: set[tuple[str, str]] = set()  # (module, alias or "")
    from_imports: dict[str, set[tuple[str, str]]] = {}  # module -> {(name, alias or "")}
    bound: dict[str, str] = {}  # name bound by an import -> what it refers to
    defined: dict[str, str] = {}  # top-level name -> label of the source defining it
    sections: list[str] = []
    for index, (label, text) in enumerate(sources):
        statements = _statements(label, text)
        docstring = None
        start = 0
        if statements and len(statements[0]) == 1 and statements[0][0].type == tokenize.STRING:
            docstring = _docstring(statements[0][0].string)
            start = 1
        header_end = statements[start - 1][-1].end[0] if start else 0
        while start < len(statements) and _is_import(statements[start]):
            statement = statements[start]
            header_end = statement[-1].end[0]
            start += 1
            spec = _parse_import(label, statement)
            if _is_own(spec):
                _check_own_import(label, statement, spec, defined)
            else:
                _gather(label, statement, spec, future, plain, from_imports, bound)
        for statement in statements[start:]:
            if any(tok.type == tokenize.NAME and tok.string == "import" for tok in statement):
                _check_later_import(label, statement)
            if statement[0].start[1] != 0:
                continue  # not top level
            if _is_main_block(statement) and index < len(sources) - 1:
                raise AssemblyError(f"{label}: an `if __name__ == '__main__'` block is allowed in the last source only")
            for name in _defined_names(statement):
                if defined.get(name, label) != label:
                    raise AssemblyError(f"{label}: {name} is defined in {defined[name]} too")
                defined[name] = label
        comment = [_comment_line(line) for line in (docstring or "").splitlines()]
        code = "\n".join(text.splitlines()[header_end:]).strip("\n")
        sections.append("\n".join([_banner(label), *comment, "", code]))
    clash = sorted(set(bound) & set(defined))
    if clash:
        raise AssemblyError(f"imported and defined at the top level: {', '.join(clash)}")
    head = HEADER.format(sources="\n".join(f"    {label}" for label, _ in sources))
    imports = [f"import {module}" + (f" as {alias}" if alias else "") for module, alias in sorted(plain)]
    for module in sorted(from_imports):
        names = ", ".join(name + (f" as {alias}" if alias else "") for name, alias in sorted(from_imports[module]))
        imports.append(f"from {module} import {names}")
    blocks = [head]
    if future:
        blocks.append(f"from __future__ import {', '.join(sorted(future))}")
    blocks.append("\n".join(imports))
    result = "\n\n".join(blocks) + "\n\n\n" + "\n\n\n".join(sections) + "\n"
    try:
        compile(result, "verify_pack.py", "exec", dont_inherit=True)  # to bytecode: no `ast` objects
    except SyntaxError as exc:
        raise AssemblyError(f"the joined file does not compile: {exc}") from None
    return result


# --- reading the sources ------------------------------------------------------------------


def _statements(label: str, text: str) -> list[list[tokenize.TokenInfo]]:
    """The logical lines of `text`, each as its tokens (no comments, no layout tokens)."""
    statements: list[list[tokenize.TokenInfo]] = []
    current: list[tokenize.TokenInfo] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in _SKIPPED:
                continue
            if tok.type == tokenize.OP and tok.string == ";":
                raise AssemblyError(f"{label}:{tok.start[0]}: one statement per line (no `;`)")
            if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                if current:
                    statements.append(current)
                current = []
                continue
            current.append(tok)
    except (tokenize.TokenError, SyntaxError) as exc:
        raise AssemblyError(f"{label}: cannot be read: {exc}") from None
    return statements


def _docstring(literal: str) -> str:
    """The text of a docstring as written in the source (a raw string reads as its value)."""
    body = literal.lstrip("rRuU")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    return inspect.cleandoc(body[len(quote):-len(quote)])


def _is_import(statement: list[tokenize.TokenInfo]) -> bool:
    return statement[0].type == tokenize.NAME and statement[0].string in ("import", "from")


def _parse_import(label: str, statement: list[tokenize.TokenInfo]) -> tuple[int | None, str, list[tuple[str, str]]]:
    """(level, module, [(name, alias)]): level None for `import a.b as c, d` (names are the
    modules, module ""), else the dots of `from ..m import x as y` (module "m")."""
    words = [tok.string for tok in statement if tok.string not in ("(", ")")]
    where = f"{label}:{statement[0].start[0]}"
    if words[0] == "import":
        return None, "", _names(where, words[1:])
    position = 1
    level = 0
    while position < len(words) and set(words[position]) == {"."}:
        level += len(words[position])
        position += 1
    if "import" not in words[position:]:
        raise AssemblyError(f"{where}: not an import statement")
    keyword_at = words.index("import", position)
    return level, "".join(words[position:keyword_at]), _names(where, words[keyword_at + 1:])


def _names(where: str, words: list[str]) -> list[tuple[str, str]]:
    """The words of `a.b as c, d,` -> [("a.b", "c"), ("d", "")]."""
    names: list[tuple[str, str]] = []
    chunk: list[str] = []
    for word in [*words, ","]:
        if word != ",":
            chunk.append(word)
            continue
        if not chunk:
            continue
        dotted, alias = (chunk[:-2], chunk[-1]) if len(chunk) > 2 and chunk[-2] == "as" else (chunk, "")
        if not dotted or "as" in dotted:
            raise AssemblyError(f"{where}: cannot read the import of {' '.join(chunk)!r}")
        names.append(("".join(dotted), alias))
        chunk = []
    if not names:
        raise AssemblyError(f"{where}: an import of nothing")
    return names


def _is_own(spec: tuple[int | None, str, list[tuple[str, str]]]) -> bool:
    level, module, names = spec
    if level is None:
        return any(name.split(".")[0] == PROJECT_PACKAGE for name, _alias in names)
    return level > 0 or module.split(".")[0] == PROJECT_PACKAGE


def _is_main_block(statement: list[tokenize.TokenInfo]) -> bool:
    return len(statement) > 1 and statement[0].string == "if" and statement[1].string == "__name__"


def _defined_names(statement: list[tokenize.TokenInfo]) -> list[str]:
    """Names a top-level statement binds: def/class, or the plain names assigned to."""
    words = [tok.string for tok in statement]
    if words[0] in ("def", "class") and len(words) > 1:
        return [words[1]]
    if words[:2] == ["async", "def"] and len(words) > 2:
        return [words[2]]
    if keyword.iskeyword(words[0]):
        return []
    targets: list[list[tokenize.TokenInfo]] = []
    segment: list[tokenize.TokenInfo] = []
    depth = 0
    for tok in statement:
        if tok.string in ("(", "[", "{"):
            depth += 1
        elif tok.string in (")", "]", "}"):
            depth -= 1
        if depth == 0 and tok.type == tokenize.OP and tok.string == "=":
            targets.append(segment)
            segment = []
        else:
            segment.append(tok)
    if not targets and len(words) > 2 and words[1] == ":":
        targets = [statement]  # `name: annotation`, no value
    names: list[str] = []
    for target in targets:
        if len(target) > 1 and target[1].string == ":":  # `name: annotation = value`
            target = target[:1]
        if _plain_names(target):
            names.extend(tok.string for tok in target if tok.type == tokenize.NAME)
    return names


def _plain_names(target: list[tokenize.TokenInfo]) -> bool:
    """`a`, `a, b`, `(a, [b, c])`: names, commas and brackets only (not `a.b`, `a[0]`)."""
    if not any(tok.type == tokenize.NAME for tok in target):
        return False
    for tok, after in zip(target, [*target[1:], None], strict=True):
        if tok.type == tokenize.NAME:
            if keyword.iskeyword(tok.string) or (after is not None and after.string not in (",", ")", "]")):
                return False
        elif tok.string not in (",", "(", ")", "[", "]"):
            return False
    return True


# --- checking and gathering imports -------------------------------------------------------


def _check_own_import(label: str, statement: list, spec: tuple, defined: dict[str, str]) -> None:
    """An import of another part: dropped, so each name must already be defined, as itself."""
    level, _module, names = spec
    where = f"{label}:{statement[0].start[0]}"
    if level is None:
        raise AssemblyError(f"{where}: import names from the other parts (`from .x import y`), not modules")
    for name, alias in names:
        if name == "*" or alias not in ("", name):
            raise AssemblyError(f"{where}: import {name!r} from the other parts under its own name")
        if name not in defined:
            raise AssemblyError(f"{where}: {name} is not defined by an earlier part")


def _gather(label: str, statement: list, spec: tuple, future: set, plain: set, from_imports: dict, bound: dict) -> None:
    level, module, names = spec
    where = f"{label}:{statement[0].start[0]}"
    if level is None:
        for name, alias in names:
            _require_stdlib(where, name)
            _bind(where, bound, alias or name.split(".")[0], name if alias else name.split(".")[0])
            plain.add((name, alias))
        return
    if module == "__future__":
        future.update(name for name, _alias in names)
        return
    _require_stdlib(where, module)
    for name, alias in names:
        if name == "*":
            raise AssemblyError(f"{where}: no `import *`")
        _bind(where, bound, alias or name, f"{module}.{name}")
        from_imports.setdefault(module, set()).add((name, alias))


def _check_later_import(label: str, statement: list[tokenize.TokenInfo]) -> None:
    """Imports after the leading block stay where they are: standard library only."""
    where = f"{label}:{statement[0].start[0]}"
    if not _is_import(statement):
        raise AssemblyError(f"{where}: an import must be a statement of its own line")
    spec = _parse_import(label, statement)
    if _is_own(spec):
        raise AssemblyError(f"{where}: import the other parts in the leading import block only")
    level, module, names = spec
    for name in [module] if level is not None else [name for name, _alias in names]:
        _require_stdlib(where, name)


def _bind(where: str, bound: dict[str, str], name: str, target: str) -> None:
    if bound.setdefault(name, target) != target:
        raise AssemblyError(f"{where}: {name} is imported as {target} here and as {bound[name]} elsewhere")


def _require_stdlib(where: str, module: str) -> None:
    if module.split(".")[0] not in sys.stdlib_module_names:
        raise AssemblyError(f"{where}: {module} is not in the standard library")


def _banner(label: str) -> str:
    return f"# --- {label} ".ljust(88, "-")


def _comment_line(line: str) -> str:
    return f"# {line}".rstrip()
