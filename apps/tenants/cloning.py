"""Copy the migrated base schema into a new tenant schema, in a time that does not grow
with the number of tenants already in the database.

Why not django-tenants' `CloneSchema`: its PL/pgSQL function reads
`information_schema` table by table, and every such read scans the columns and
privileges of every schema in the database. Measured here, one clone took 0.26 s with
10 schemas and 2.2 s with 70 (docs/decisions/0014-own-schema-cloner.md). This module
reads the base's catalog once per process (`pg_catalog` filtered on the base's
namespace), turns it into one DDL script with unqualified names, and replays that
script for every new tenant with `search_path` set to the new schema alone.

Tables are created with `LIKE base.table INCLUDING ALL`, which copies indexes and
constraints as PostgreSQL holds them (re-parsing a deparsed partial index can store an
equivalent but differently written predicate), under names PostgreSQL chooses. Those
names are deterministic for an empty schema, so the plan learns them once, by running
the structure into a scratch schema inside a savepoint that is rolled back, and the
script renames every index and constraint to its name in the base.

What a base schema may hold is what Django migrations produce here, and nothing else
is copied silently: tables (columns, defaults, NOT NULL and CHECK constraints, identity
columns with their sequences' names and options), primary keys, unique, exclusion and
foreign-key constraints under their own names, other indexes, triggers, the schema's
own functions (trigger functions), and the rows the base holds (migration records,
permissions, singleton rows), with the sequences' positions. Any other kind of object
(a view, a standalone sequence, a partitioned table, a type, a constraint trigger)
stops the clone with `CloneError` naming it, so a migration that adds one is noticed
the first time a tenant is provisioned, not by a tenant missing it.
`tests/tenants/test_provisioning.py` compares a clone's catalog with the base's and
with a schema built by replaying every migration.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db import connection

_HANDLED_RELKINDS = {"r": "table", "i": "index", "S": "sequence"}


class CloneError(RuntimeError):
    """The base schema holds something this cloner does not copy."""


@dataclass(frozen=True)
class ClonePlan:
    """The base schema as one script, to be run with `search_path` = the new schema."""

    source: str
    script: str
    statements: int


_plans: dict[tuple[str, frozenset], ClonePlan] = {}
_plans_lock = threading.Lock()


def clone_schema(*, source: str, target: str, version: frozenset) -> None:
    """Create schema `target` as a copy of `source` (structure and rows).

    `version` identifies the state of `source` (its applied migrations): the plan read
    from the catalog is reused while it is unchanged. Runs in the caller's transaction.
    """
    key = (source, version)
    with _plans_lock:
        plan = _plans.get(key)
    if plan is None:
        plan = read_plan(source)
        with _plans_lock:
            _plans.clear()  # only the current state of the base is worth keeping
            _plans[key] = plan
    with connection.cursor() as cursor:
        try:
            cursor.execute(f"CREATE SCHEMA {_quote(cursor, target)}")
            cursor.execute(f"SET LOCAL search_path TO {_quote(cursor, target)}")
            cursor.execute(plan.script)
        finally:
            # django-tenants caches the search_path it last set (TENANT_LIMIT_SET_CALLS):
            # make it issue its own again on the next cursor.
            connection.search_path_set_schemas = None


def read_plan(source: str) -> ClonePlan:
    """Read `source`'s catalog (with `search_path` = `source`, so that definitions come
    back with unqualified names) and build the script that recreates it."""
    with connection.cursor() as cursor:
        try:
            cursor.execute("SELECT oid, quote_ident(nspname) FROM pg_namespace WHERE nspname = %s", [source])
            row = cursor.fetchone()
            if row is None:
                raise CloneError(f"schema {source!r} does not exist")
            namespace, quoted = row
            cursor.execute(f"SET LOCAL search_path TO {quoted}")
            reader = _Reader(cursor, namespace=namespace, source=source, quoted=quoted)
            structure = reader.structure()
            data = reader.data()
            names = reader.source_names()
            renames = _renames(cursor, structure, names)
            cursor.execute(f"SET LOCAL search_path TO {quoted}")
            statements = [*structure, *renames, *data, *reader.foreign_keys(), *reader.triggers()]
        finally:
            connection.search_path_set_schemas = None
    return ClonePlan(source=source, script=";\n".join(statements), statements=len(statements))


PROBE_SCHEMA = "_warden_clone_probe"


def _renames(cursor, structure: list[str], wanted: dict[tuple, list[tuple[str, bool]]]) -> list[str]:
    """Run `structure` in a scratch schema (rolled back) and return the statements that
    give its indexes and constraints the base's names."""
    from django.db import transaction

    class _Rollback(Exception):
        pass

    chosen: dict[tuple, list[tuple[str, bool]]] = {}
    try:
        with transaction.atomic():
            cursor.execute(f"CREATE SCHEMA {PROBE_SCHEMA}")
            cursor.execute(f"SET LOCAL search_path TO {PROBE_SCHEMA}")
            cursor.execute(";\n".join(structure))
            cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [PROBE_SCHEMA])
            probe = _Reader(cursor, namespace=cursor.fetchone()[0], source=PROBE_SCHEMA, quoted=PROBE_SCHEMA)
            chosen = probe.source_names()
            raise _Rollback
    except _Rollback:
        pass
    finally:
        connection.search_path_set_schemas = None
    if chosen.keys() != wanted.keys() or any(len(chosen[k]) != len(wanted[k]) for k in wanted):
        missing = sorted(set(wanted) ^ set(chosen))[:3]
        raise CloneError(f"LIKE ... INCLUDING ALL did not reproduce the base's indexes and constraints: {missing}")
    first, second = [], []
    for key, targets in wanted.items():
        for (old, old_is_constraint), (new, _new_is_constraint) in zip(sorted(chosen[key]), sorted(targets), strict=True):
            if old == new:
                continue
            table = key[0]
            temporary = f"_warden_rename_{len(first)}"
            first.append(_rename(table, old, temporary, old_is_constraint))
            second.append(_rename(table, temporary, new, old_is_constraint))
    return first + second  # in two steps: a new name may be another object's chosen name


def _rename(table: str, old: str, new: str, constraint: bool) -> str:
    old_q, new_q = _ident(old), _ident(new)
    if constraint:  # renames the constraint's index with it
        return f"ALTER TABLE {table} RENAME CONSTRAINT {old_q} TO {new_q}"
    return f"ALTER INDEX {old_q} RENAME TO {new_q}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote(cursor, name: str) -> str:
    cursor.execute("SELECT quote_ident(%s)", [name])
    return cursor.fetchone()[0]


class _Reader:
    def __init__(self, cursor, *, namespace: int, source: str, quoted: str):
        self.cursor, self.namespace, self.source, self.quoted = cursor, namespace, source, quoted

    def _rows(self, sql: str) -> list[tuple]:
        self.cursor.execute(sql, {"ns": self.namespace})
        return self.cursor.fetchall()

    def _unqualified(self, kind: str, name: str, definition: str, prefix: str) -> str:
        """`definition` with the one schema qualifier PostgreSQL always prints removed;
        any other mention of the base schema is refused rather than copied."""
        qualified = f"{prefix}{self.quoted}."
        if qualified in definition:
            definition = definition.replace(qualified, prefix, 1)
        if f"{self.quoted}." in definition or f'"{self.source}".' in definition:
            raise CloneError(f"{kind} {name!r} refers to the base schema by name: {definition[:200]}")
        return definition

    def tables(self) -> list[tuple]:
        return self._rows("SELECT c.oid, quote_ident(c.relname) FROM pg_class c "
                          "WHERE c.relnamespace = %(ns)s AND c.relkind = 'r' ORDER BY c.relname")

    def structure(self) -> list[str]:
        """Functions, tables (with their indexes, primary, unique, exclusion and check
        constraints, under PostgreSQL's names) and identity columns."""
        self._refuse_unhandled()
        out = self._functions()
        out += [
            f"CREATE TABLE {name} (LIKE {self.quoted}.{name} INCLUDING ALL EXCLUDING IDENTITY)"
            for _oid, name in self.tables()
        ]
        out += self._identities()
        return out

    def source_names(self) -> dict[tuple, list[tuple[str, bool]]]:
        """Index and constraint names by (table, definition without names), with whether
        the name is a constraint's (its index carries the same name)."""
        found: dict[tuple, list[tuple[str, bool]]] = {}
        rows = self._rows("""
            SELECT quote_ident(c.relname), ic.relname, pg_get_indexdef(i.indexrelid), con.conname
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_class ic ON ic.oid = i.indexrelid
            LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                                         AND con.contype IN ('p', 'u', 'x')
            WHERE c.relnamespace = %(ns)s
        """)
        for table, index, definition, constraint in rows:
            shape = definition.replace(f" {_ident(index)} ON ", " ? ON ", 1).replace(f" {index} ON ", " ? ON ", 1)
            shape = shape.replace(f" ON {self.quoted}.", " ON ", 1)
            name = constraint if constraint is not None else index
            key = (table, "constraint" if constraint is not None else "index", shape)
            found.setdefault(key, []).append((name, constraint is not None))
        return found

    def data(self) -> list[str]:
        return self._rows_copy(self.tables())

    def _refuse_unhandled(self) -> None:
        others = self._rows("""
            SELECT c.relkind, c.relname FROM pg_class c
            WHERE c.relnamespace = %(ns)s AND c.relkind NOT IN ('r', 'i', 'S')
            UNION ALL
            SELECT 'S', s.relname FROM pg_class s
            WHERE s.relnamespace = %(ns)s AND s.relkind = 'S'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = s.oid AND d.deptype = 'i'
                              AND d.classid = 'pg_class'::regclass)
            UNION ALL
            SELECT 'type', t.typname FROM pg_type t
            WHERE t.typnamespace = %(ns)s AND t.typtype NOT IN ('c', 'b') AND t.typrelid = 0
            UNION ALL
            SELECT 'constraint trigger', con.conname FROM pg_constraint con
            WHERE con.connamespace = %(ns)s AND con.contype NOT IN ('p', 'u', 'x', 'f', 'c')
        """)
        if others:
            shown = ", ".join(f"{_HANDLED_RELKINDS.get(kind, kind)} {name}" for kind, name in others[:5])
            raise CloneError(f"the base schema holds objects the cloner does not copy: {shown}")

    def _functions(self) -> list[str]:
        rows = self._rows("SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
                          "WHERE p.pronamespace = %(ns)s ORDER BY p.proname, p.oid")
        return [self._unqualified("function", name, definition, "FUNCTION ") for name, definition in rows]

    def _identities(self) -> list[str]:
        """Identity columns under the sequence names and options they have in the base
        (LIKE ... INCLUDING IDENTITY would name the sequences afresh)."""
        rows = self._rows("""
            SELECT quote_ident(c.relname), quote_ident(a.attname),
                   CASE a.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END,
                   quote_ident(s.relname), q.seqstart, q.seqincrement, q.seqmin, q.seqmax, q.seqcache, q.seqcycle
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_depend d ON d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype = 'i'
                             AND d.classid = 'pg_class'::regclass
            JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
            JOIN pg_sequence q ON q.seqrelid = s.oid
            WHERE c.relnamespace = %(ns)s AND a.attidentity <> '' AND NOT a.attisdropped
            ORDER BY c.relname, a.attnum
        """)
        out = []
        for table, column, kind, sequence, start, increment, minimum, maximum, cache, cycle in rows:
            options = (f"SEQUENCE NAME {sequence} START WITH {start} INCREMENT BY {increment} "
                       f"MINVALUE {minimum} MAXVALUE {maximum} CACHE {cache} {'CYCLE' if cycle else 'NO CYCLE'}")
            out.append(f"ALTER TABLE {table} ALTER COLUMN {column} ADD GENERATED {kind} AS IDENTITY ({options})")
            self.cursor.execute(f"SELECT last_value, is_called FROM {self.quoted}.{sequence}")
            last_value, is_called = self.cursor.fetchone()
            if is_called:
                out.append(f"SELECT setval('{sequence}', {int(last_value)}, true)")
        return out

    def _rows_copy(self, tables: list[tuple]) -> list[str]:
        out = []
        for _oid, name in tables:
            self.cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {self.quoted}.{name})")
            if self.cursor.fetchone()[0]:
                out.append(f"INSERT INTO {name} OVERRIDING SYSTEM VALUE SELECT * FROM {self.quoted}.{name}")
        return out

    def foreign_keys(self) -> list[str]:
        rows = self._rows("""
            SELECT quote_ident(c.relname), quote_ident(con.conname), pg_get_constraintdef(con.oid)
            FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
            WHERE c.relnamespace = %(ns)s AND con.contype = 'f'
            ORDER BY c.relname, con.conname
        """)
        return [
            f"ALTER TABLE {table} ADD CONSTRAINT {name} "
            + self._unqualified("constraint", name, definition, "REFERENCES ")
            for table, name, definition in rows
        ]

    def triggers(self) -> list[str]:
        rows = self._rows("""
            SELECT t.tgname, pg_get_triggerdef(t.oid)
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = %(ns)s AND NOT t.tgisinternal
            ORDER BY c.relname, t.tgname
        """)
        return [self._unqualified("trigger", name, definition, " ON ") for name, definition in rows]
