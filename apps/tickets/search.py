"""Ticket search: the index, what a typed query becomes, its ranking and its highlights.

The index (two `tsvector` columns with GIN indexes, written by the services):

    `search_vector`       what a requester may read: title (A), description (B),
                          resolution note (D), public comments (C)
    `search_vector_all`   what agents may read: the same plus internal comments (C)

Every text goes through ONE text search configuration, `public.warden_search`: PostgreSQL's
`simple` (lower case, no stop words, no stemming: fine for any language) behind the
`unaccent` dictionary, so `hasło`, `HASŁO` and `haslo` are the same word. PostgreSQL ships
no Polish stemmer; instead of stemming the stored text, a typed word is widened, when the
query is compiled, to the forms of it the tenant's tickets actually contain, read from
the tenant's word list (`SearchWord`, kept by the same writes):

* English forms: the words with the same Snowball English stem (`printers` -> `printer`,
  `installed` -> `installation`);
* Polish (and any inflected language's) forms: words that start with the same three
  letters and are trigram-similar (`pg_trgm`, similarity >= 0.5) (`drukarki` ->
  `drukarka`, `drukarce`; `faktury` -> `faktura`);
* the last word of the query also matches as a prefix (typing `print` finds `printer`),
  from three characters on.

So stored vectors stay exact words, phrases (`"out of paper"`) stay exact, and the words
a search matched are exactly the words `ts_headline` marks. ADR 0020 says why.

A query is web-search syntax (`printer -laser "out of paper" or toner`), parsed here and
compiled with one statement into a `tsquery` (its text form, with the forms spelt out).
A query that is a ticket number (`7`, `#7`) also matches that ticket, ranked first.

Ranking (the relevance order, a searched list's default): `ts_rank` with weights title
1.0, description and resolution note 0.4, comments 0.2, divided by 1 + log(length), as a
whole number (the keyset cursor's value). Ranking reads every ranked ticket's vector, so an
agent's search ranks a window of about `WARDEN_TICKETS_SEARCH_RANKED_MAX` matches among
the newest tickets (and the ticket whose number was typed); older matches follow them,
newest first. The window is a number range computed when the query is compiled: the
newest number minus RANKED_MAX / the share of tickets the query is expected to match,
from PostgreSQL's own statistics of the agents' vector (`pg_stats`: the commonest
lexemes and how common they are), so no statement is spent finding it and the planner
sees a plain range. Without statistics (a tenant too new to have been analysed, so a
small one) and for requesters (who read their own tickets only) every match is ranked.
A page then reads a bounded number of rows whatever the word's frequency: the ranked part
about RANKED_MAX, the older part by number (the keyset paginator's split read, as the
desk's due-time column).

Highlights (`search_filter(highlight=True)`, read with `hit()`): the title with the
matched words marked and a snippet from where they were found (the description, the
resolution note, or the newest matching comment; an internal note for agents only), by
`ts_headline` in the statement that loads a page's rows. The text is HTML-escaped in SQL
before `ts_headline` reads it and the markers are control characters the text cannot
hold, so the only markup in a highlight is the <mark> elements added here.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.search import SearchQueryField, SearchRank, SearchVector
from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    F,
    Func,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.core import keyset

from . import conf

CONFIG = "public.warden_search"
PUBLIC_VECTOR = "search_vector"
ALL_VECTOR = "search_vector_all"
# The alias a searched ticket list carries (computed only where the relevance order reads it).
RANK = "search_rank"
RELEVANCE_VALUE = "search_relevance"  # the same, selected (the ranked part of a relevance page)
WINDOW = "search_window"  # an agent's searched list: ranked are the matches numbered above it
# ts_rank weights {D, C, B, A}: resolution note, comments, description, title.
RANK_WEIGHTS = [0.4, 0.2, 0.4, 1.0]
RANK_NORMALIZATION = 1  # divided by 1 + log(number of words): long threads do not win by length
RANK_SCALE = 1_000_000  # the rank as a whole number, for the keyset cursor
NUMBER_BOOST = 10**12  # the ticket whose number was typed comes first

# Word forms (see the module docstring).
PREFIX_MIN_CHARS = 3
STEM_MIN_CHARS = 3
FORM_MIN_CHARS = 4
FORM_SIMILARITY = 0.5
FORM_SAME_START = 3
MAX_FORMS = 20
# What goes into the word list: words of 3 to 40 characters with a letter in them.
WORD_MIN_CHARS = 3
WORD_MAX_CHARS = 40
MAX_TERMS = 32  # words and phrases of one query; the rest of a longer query is ignored

MAX_NUMBER = 2**31 - 1
_NUMBER = re.compile(r"#?\s*(\d{1,10})")

# Highlight markers: control characters, which no stored text can contain (tickets.text
# refuses them in every field), replaced by <mark> after the text is escaped.
_START, _STOP = "\x02", "\x03"
_TITLE_OPTIONS = f"HighlightAll=true, StartSel={_START}, StopSel={_STOP}"
_SNIPPET_OPTIONS = (
    f'MaxFragments=2, MaxWords=18, MinWords=6, ShortWord=2, FragmentDelimiter=" … ", '
    f"StartSel={_START}, StopSel={_STOP}"
)

# Where the snippet of a hit comes from.
SOURCE_DESCRIPTION = "description"
SOURCE_RESOLUTION = "resolution_note"
SOURCE_COMMENT = "comment"
SOURCE_INTERNAL = "internal_comment"
SOURCES = (SOURCE_DESCRIPTION, SOURCE_RESOLUTION, SOURCE_COMMENT, SOURCE_INTERNAL)


# --- The index -------------------------------------------------------------------------------

_COMMENTS = """
  LEFT JOIN LATERAL (
    SELECT string_agg(c.body, E'\\n' ORDER BY c.id) FILTER (WHERE NOT c.internal) AS public,
           string_agg(c.body, E'\\n' ORDER BY c.id) FILTER (WHERE c.internal) AS internal
    FROM tickets_ticketcomment c WHERE c.ticket_id = x.id
  ) c ON true"""

REFRESH_SQL = f"""
UPDATE tickets_ticket t SET search_vector = v.public, search_vector_all = v.public || v.internal
FROM (
  SELECT x.id,
         setweight(to_tsvector(%(cfg)s::regconfig, coalesce(x.title, '')), 'A')
      || setweight(to_tsvector(%(cfg)s::regconfig, coalesce(x.description, '')), 'B')
      || setweight(to_tsvector(%(cfg)s::regconfig, coalesce(x.resolution_note, '')), 'D')
      || setweight(to_tsvector(%(cfg)s::regconfig, coalesce(c.public, '')), 'C') AS public,
         setweight(to_tsvector(%(cfg)s::regconfig, coalesce(c.internal, '')), 'C') AS internal
  FROM tickets_ticket x{_COMMENTS}
  {{where}}
) v
WHERE v.id = t.id
"""

APPEND_PUBLIC_SQL = """
UPDATE tickets_ticket SET
  search_vector = coalesce(search_vector, ''::tsvector) || v.words,
  search_vector_all = coalesce(search_vector_all, ''::tsvector) || v.words
FROM (SELECT setweight(to_tsvector(%(cfg)s::regconfig, %(body)s), 'C') AS words) v
WHERE id = %(id)s
"""

APPEND_INTERNAL_SQL = """
UPDATE tickets_ticket SET
  search_vector_all = coalesce(search_vector_all, ''::tsvector) || setweight(to_tsvector(%(cfg)s::regconfig, %(body)s), 'C')
WHERE id = %(id)s
"""

# New words into the word list. No unique index and no lock: two transactions adding
# the same new word at once both add it (readers take distinct words); neither waits.
_LEARN = """
INSERT INTO tickets_searchword (word, stem)
SELECT w.word, (ts_lexize('english_stem', w.word))[1]
FROM ({words}) w
WHERE length(w.word) BETWEEN %(min)s AND %(max)s AND w.word ~ '[[:alpha:]]'
  AND NOT EXISTS (SELECT 1 FROM tickets_searchword s WHERE s.word = w.word)
"""
LEARN_TEXT_SQL = _LEARN.format(
    words="SELECT DISTINCT unnest(tsvector_to_array(to_tsvector(%(cfg)s::regconfig, %(text)s))) AS word"
)
LEARN_TICKETS_SQL = _LEARN.format(
    words="SELECT DISTINCT unnest(tsvector_to_array(t.search_vector_all)) AS word "
          "FROM tickets_ticket t WHERE t.id = ANY(%(ids)s)"
)
# An import's words without identifiers (words with a digit: incident numbers, host names),
# which no search widens to and which would flood the list, one new word per ticket.
LEARN_TICKETS_TEXT_SQL = _LEARN.format(
    words="SELECT DISTINCT w.word FROM tickets_ticket t, unnest(tsvector_to_array(t.search_vector_all)) AS w(word) "
          "WHERE t.id = ANY(%(ids)s) AND w.word !~ '[0-9]'"
)
LEARN_ALL_SQL = _LEARN.format(words="SELECT word FROM ts_stat('SELECT search_vector_all FROM tickets_ticket')")


def learn_params(**extra) -> dict:
    """The parameters of the LEARN_* statements."""
    return {"cfg": CONFIG, "min": WORD_MIN_CHARS, "max": WORD_MAX_CHARS, **extra}


def new_ticket_vectors(*, title: str, description: str) -> dict[str, SearchVector]:
    """The vectors of a ticket without comments or resolution, as expressions for its INSERT
    (no second statement needed when a ticket is created): {field: expression}."""

    def vector():
        return SearchVector(Value(title, output_field=TextField()), weight="A", config=CONFIG) + SearchVector(
            Value(description, output_field=TextField()), weight="B", config=CONFIG
        )

    return {PUBLIC_VECTOR: vector(), ALL_VECTOR: vector()}


def search_learn_text(*texts: str) -> None:
    """Add the words of `texts` to the tenant's word list (the forms a search widens to)."""
    text = "\n".join(t for t in texts if t)
    if not text.strip():
        return
    with connection.cursor() as cursor:
        cursor.execute(LEARN_TEXT_SQL, learn_params(text=text))


def search_refresh(ticket_ids: Iterable[int] | None = None) -> int:
    """Recompute the vectors of `ticket_ids` (all tickets when None) and add their words to
    the word list. Returns the rows updated."""
    params = learn_params()
    where = ""
    if ticket_ids is not None:
        params["ids"] = list(ticket_ids)
        if not params["ids"]:
            return 0
        where = "WHERE x.id = ANY(%(ids)s)"
    with connection.cursor() as cursor:
        cursor.execute(REFRESH_SQL.format(where=where), params)
        updated = cursor.rowcount
        cursor.execute(LEARN_ALL_SQL if ticket_ids is None else LEARN_TICKETS_SQL, params)
    return updated


def search_append_comment(*, ticket_id: int, body: str, internal: bool) -> None:
    """Add one comment's words to its ticket's vectors (cheaper than a full refresh): an
    internal note to the agents' vector only, a public comment to both."""
    with connection.cursor() as cursor:
        cursor.execute(APPEND_INTERNAL_SQL if internal else APPEND_PUBLIC_SQL,
                       {"cfg": CONFIG, "body": body, "id": ticket_id})
        cursor.execute(LEARN_TEXT_SQL, learn_params(text=body))


# --- Parsing a query (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool = False  # "quoted": exact, never widened
    negated: bool = False  # -word, -"phrase"
    prefix: bool = False  # the last word typed: also matches as a prefix


def parse(text: str) -> list[list[Term]]:
    """Web-search syntax as PostgreSQL's `websearch_to_tsquery` reads it: words and "quoted
    phrases" are ANDed, a leading `-` negates one, `or` between two separates alternatives.
    Returns the alternatives (an OR of ANDs). The last plain word of the query is marked
    as a prefix (it may be half typed)."""
    groups: list[list[Term]] = [[]]
    i, n = 0, len(text)
    pending_or = False
    count = 0
    while i < n and count < MAX_TERMS:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        negated = False
        if char == "-" and i + 1 < n and not text[i + 1].isspace():
            negated = True
            i += 1
        if text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            term = Term(text[i + 1:end], phrase=True, negated=negated)
            i = end + 1
        else:
            end = i
            while end < n and not text[end].isspace() and text[end] != '"':
                end += 1
            word = text[i:end]
            i = end
            if not negated and word.lower() == "or":
                pending_or = bool(groups[-1])
                continue
            term = Term(word, negated=negated)
        if not term.text.strip():
            continue
        if pending_or:
            groups.append([])
            pending_or = False
        groups[-1].append(term)
        count += 1
    groups = [group for group in groups if group]
    if groups:
        last = groups[-1][-1]
        if not last.phrase and not last.negated:
            groups[-1][-1] = Term(last.text, prefix=True)
    return groups


def number_in(text: str) -> int | None:
    """The ticket number a query is (`7`, `#7`), or None."""
    found = _NUMBER.fullmatch(text.strip())
    if found is None:
        return None
    number = int(found.group(1))
    return number if 0 < number <= MAX_NUMBER else None


def _quote(lexeme: str) -> str:
    """A lexeme as a tsquery operand: quoted, quotes and backslashes doubled."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


# --- Compiling a query (one statement) ----------------------------------------------------------

COMPILE_SQL = f"""
WITH terms AS MATERIALIZED (  -- each term's words, computed once
  SELECT u.i, u.prefix, phraseto_tsquery(%(cfg)s::regconfig, u.term)::text AS exact, w.words,
         CASE WHEN u.widen AND cardinality(w.words) = 1 THEN w.words[1] END AS lexeme
  FROM unnest(%(terms)s::text[], %(widen)s::boolean[], %(prefix)s::boolean[]) WITH ORDINALITY AS u(term, widen, prefix, i)
  CROSS JOIN LATERAL (SELECT tsvector_to_array(to_tsvector(%(cfg)s::regconfig, u.term)) AS words) w
), widened AS MATERIALIZED (  -- and the forms of each word from the word list
  SELECT t.*, f.forms
  FROM (SELECT terms.*, (ts_lexize('english_stem', terms.lexeme))[1] AS stem FROM terms) t
  CROSS JOIN LATERAL (
    SELECT CASE WHEN t.lexeme IS NULL THEN ARRAY[]::text[] ELSE ARRAY(
      SELECT s.word FROM tickets_searchword s
      WHERE s.word <> t.lexeme AND (
            (length(t.lexeme) >= %(stem_min)s AND s.stem = t.stem)
         OR (length(t.lexeme) >= %(form_min)s AND s.word %% t.lexeme
             AND left(s.word, %(same_start)s) = left(t.lexeme, %(same_start)s)
             AND similarity(s.word, t.lexeme) >= %(similarity)s))
      GROUP BY s.word
      ORDER BY bool_or(s.stem IS NOT DISTINCT FROM t.stem) DESC, max(similarity(s.word, t.lexeme)) DESC, s.word
      LIMIT %(max_forms)s) END AS forms
  ) f
), stats AS (  -- PostgreSQL's statistics of the agents' vector: its commonest lexemes, how common
  SELECT e.elem, e.freq
  FROM pg_stats p, unnest(p.most_common_elems::text::text[], p.most_common_elem_freqs) AS e(elem, freq)
  WHERE p.schemaname = current_schema() AND p.tablename = 'tickets_ticket' AND p.attname = '{ALL_VECTOR}'
    AND e.elem IS NOT NULL
), rare AS (  -- what a lexeme missing from them is taken for (as the planner does)
  SELECT min(freq) / 2 AS freq FROM stats
)
SELECT t.i, t.exact, t.lexeme, t.forms,
  CASE
    WHEN (SELECT freq FROM rare) IS NULL THEN NULL
    WHEN t.lexeme IS NOT NULL THEN least(1, greatest((SELECT freq FROM rare), (
      SELECT sum(st.freq) FROM stats st
      WHERE st.elem = t.lexeme OR st.elem = ANY(t.forms)
         OR (t.prefix AND length(t.lexeme) >= %(prefix_min)s AND starts_with(st.elem, t.lexeme)))))
    ELSE (SELECT min(coalesce(st.freq, (SELECT freq FROM rare))) FROM unnest(t.words) w LEFT JOIN stats st ON st.elem = w)
  END AS share,
  (SELECT max(number) FROM tickets_ticket) AS newest
FROM widened t
ORDER BY t.i
"""


@dataclass(frozen=True)
class CompiledSearch:
    """A query ready to run: `tsquery` (text form; "" when it has no words), `any_tsquery`
    (any of its wanted words: what highlighting marks), `number` (a ticket number typed),
    `selectivity` (the share of the tenant's tickets it is expected to match, from
    PostgreSQL's statistics of the agents' vector; None without statistics)."""

    text: str
    tsquery: str
    any_tsquery: str
    number: int | None
    selectivity: float | None = None
    newest: int | None = None  # the tenant's highest ticket number when it was compiled

    @property
    def matches_nothing(self) -> bool:
        return not self.tsquery and self.number is None

    @property
    def key(self) -> str:
        return search_key(self.text)


def search_key(text: str) -> str:
    """A short digest of a query as typed (a relevance ordering's cursors are bound to it)."""
    return hashlib.blake2s((text or "").strip().encode(), digest_size=6).hexdigest()


def _operand(term: Term, exact: str, lexeme: str | None, forms: Sequence[str]) -> str:
    if lexeme is None:
        body = f"( {exact} )"
    else:
        head = _quote(lexeme) + (":*" if term.prefix and len(lexeme) >= PREFIX_MIN_CHARS else "")
        body = "( " + " | ".join([head, *(_quote(form) for form in forms)]) + " )"
    return f"!{body}" if term.negated else body


def compile_search(text: str) -> CompiledSearch | None:
    """`text` (web-search syntax) as a `CompiledSearch`; None for an empty query. One
    statement: the words, their forms from the word list and how common they are."""
    text = (text or "").strip()
    if not text:
        return None
    groups = parse(text)
    terms = [term for group in groups for term in group]
    rows: list = []
    if terms:
        with connection.cursor() as cursor:
            cursor.execute(COMPILE_SQL, {
                "cfg": CONFIG, "terms": [t.text for t in terms], "widen": [not t.phrase for t in terms],
                "prefix": [t.prefix for t in terms], "prefix_min": PREFIX_MIN_CHARS,
                "stem_min": STEM_MIN_CHARS, "form_min": FORM_MIN_CHARS, "same_start": FORM_SAME_START,
                "similarity": FORM_SIMILARITY, "max_forms": MAX_FORMS,
            })
            rows = cursor.fetchall()
    compiled = iter(rows)
    alternatives: list[str] = []
    wanted: list[str] = []
    shares: list[float | None] = []  # per alternative
    newest = rows[0][-1] if rows else None
    for group in groups:
        operands = []
        group_shares: list[float | None] = []
        for term in group:
            _i, exact, lexeme, forms, share, _newest = next(compiled)
            if not exact:
                continue  # no words in it (punctuation)
            operand = _operand(term, exact, lexeme, forms)
            operands.append(operand)
            if not term.negated:
                wanted.append(operand)
                group_shares.append(share)
        if operands:
            alternatives.append(" & ".join(operands))
            shares.append(_all_of(group_shares))
    tsquery = " | ".join(f"( {a} )" for a in alternatives) if len(alternatives) > 1 else "".join(alternatives)
    return CompiledSearch(text=text, tsquery=tsquery, any_tsquery=" | ".join(wanted), number=number_in(text),
                          selectivity=_any_of(shares), newest=newest)


def _all_of(shares: list[float | None]) -> float | None:
    """The expected share of tickets matching every one of terms of these shares: at most
    the rarest's (an overestimate for independent words, never an underestimate)."""
    if any(share is None for share in shares):
        return None
    return min(shares, default=1.0)


def _any_of(shares: list[float | None]) -> float | None:
    if not shares or any(share is None for share in shares):
        return None
    return min(1.0, sum(shares))


# --- Filtering and ranking -------------------------------------------------------------------------


class TsQuery(Func):
    """A tsquery from its text form, used as it is (no configuration applied again)."""

    template = "%(expressions)s::tsquery"
    output_field = SearchQueryField()


class Matches(Func):
    arg_joiner = " @@ "
    template = "(%(expressions)s)"
    output_field = BooleanField()


def _vector(agent: bool) -> str:
    return ALL_VECTOR if agent else PUBLIC_VECTOR


def search_filter(queryset: QuerySet, search: CompiledSearch, *, agent: bool, highlight: bool = False) -> QuerySet:
    """`queryset` narrowed to the tickets `search` matches, with their rank (`RANK`, a whole
    number, an alias) and ordered by it (then newest first).

    `agent`: match what agents may read (internal comments too); otherwise only what the
    requester may read. The caller decides from the actor; nothing else chooses the vector.
    `highlight`: each row also carries `HIGHLIGHT` (read it with `hit()`), computed in the
    statement that loads the rows, so for those rows only.
    """
    vector = _vector(agent)
    condition = Q(pk__in=[])
    rank = Value(0, output_field=BigIntegerField())
    if search.tsquery:
        query = TsQuery(Value(search.tsquery))
        condition |= Q(Matches(F(vector), query))
        rank = Cast(
            Func(SearchRank(F(vector), query, weights=RANK_WEIGHTS, normalization=RANK_NORMALIZATION)
                 * Value(float(RANK_SCALE)), function="floor"),
            BigIntegerField(),
        )
    if search.number is not None:
        condition |= Q(number=search.number)
        rank = rank + Case(When(number=search.number, then=Value(NUMBER_BOOST)), default=Value(0),
                           output_field=BigIntegerField())
    queryset = queryset.filter(condition).alias(**{RANK: rank}).order_by(f"-{RANK}", "-number")
    window = _window_start(search, agent=agent)
    if window is not None:
        queryset = queryset.alias(**{WINDOW: Value(window, output_field=BigIntegerField())})
    if highlight:
        queryset = queryset.annotate(**{HIGHLIGHT: Highlight(search, agent=agent)})
    return queryset


def is_ranked(queryset: QuerySet) -> bool:
    """Whether `queryset` is a search's (carries the rank the relevance order sorts on)."""
    return RANK in queryset.query.annotations


def ranked_max() -> int:
    return max(1, int(conf.get("WARDEN_TICKETS_SEARCH_RANKED_MAX")))


def _window_start(search: CompiledSearch, *, agent: bool) -> int | None:
    """Where the ranked window of an agent's search starts: the tickets numbered above
    (the tenant's newest number - ranked_max() / the share of tickets the search is
    expected to match), about the newest `ranked_max()` matches. None: every match is
    ranked (a requester's search, which reads their own tickets only; a tenant whose
    tickets PostgreSQL has no statistics of yet, which is a small one)."""
    if not agent or not search.tsquery or not search.selectivity or search.newest is None:
        return None
    # A number, not an expression: the planner then knows how many tickets the window holds.
    start = search.newest - math.ceil(ranked_max() / search.selectivity)
    return start if start > 0 else None  # the window holds every ticket


def _relevance_split(queryset: QuerySet, *, number: int | None) -> keyset.Split:
    """The relevance order in two parts: the matches in the ranked window (`WINDOW`) and
    the ticket whose number was typed, by rank; then the older matches, newest first."""
    ranked, older = queryset, None
    if WINDOW in queryset.query.annotations:
        in_window = Q(number__gt=F(WINDOW))
        if number is not None:
            in_window |= Q(number=number)
        ranked, older = queryset.filter(in_window), queryset.exclude(in_window)
    return keyset.Split(filled=ranked.annotate(**{RELEVANCE_VALUE: F(RANK)}), pk="pk", value=RELEVANCE_VALUE,
                        tie="number", empty=older)


def relevance_column(text: str) -> keyset.Column:
    """The relevance "column" of the search `text` for the keyset paginator (a list
    `search_filter` narrowed): its name carries the query's digest, so a cursor of one
    search is refused by another."""
    return keyset.Column(f"relevance.{search_key(text)}", keyset.INT, tie_descending=True,
                         split=partial(_relevance_split, number=number_in(text)))


# --- Highlighting ----------------------------------------------------------------------------------

# The annotation a searched list carries when asked to (`search_filter(highlight=True)`):
# text[] of [title, where the snippet comes from, snippet, internal ("true"/"false"), the
# number was typed ("true"/"false")], made by ts_headline for the rows loaded only.
HIGHLIGHT = "search_highlight"

# The text ts_headline reads: marker characters dropped (the services refuse them; this keeps
# rows written by other paths from forging <mark>), then escaped for HTML as Django's
# `escape` does. Escaping first also keeps the text as written: ts_headline's parser takes
# anything like an HTML tag for markup and puts a space in its place (`a <b> c` would come
# back as `a   c`); entities it passes through whole.
_CLEAN = ("replace(replace(replace(replace(replace(translate({text}, chr(2) || chr(3), ''), "
          "'&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '\"', '&quot;'), '''', '&#x27;')")

SNIPPET_WHOLE_CHARS = 240  # a text this short is its own snippet, whole; a longer one gives fragments


def _headline(text: str, options: str = "x.snippet_options") -> str:
    """ts_headline of a text (an SQL expression) of HIGHLIGHT_SQL. A short text comes back
    whole (ts_headline's fragments would trim words of it), a long one as fragments."""
    clean = _CLEAN.format(text=text)
    return (f"CASE WHEN length({text}) <= {SNIPPET_WHOLE_CHARS} "
            f"THEN ts_headline('{CONFIG}'::regconfig, {clean}, x.q, x.title_options) "
            f"ELSE ts_headline('{CONFIG}'::regconfig, {clean}, x.q, {options}) END")


HIGHLIGHT_SQL = f"""(
SELECT ARRAY[
  ts_headline('{CONFIG}'::regconfig, {_CLEAN.format(text="{title}")}, x.q, x.title_options),
  s.source,
  CASE s.source
    WHEN 'description' THEN {_headline("{description}")}
    WHEN 'resolution_note' THEN {_headline("{resolution_note}")}
    WHEN 'comment' THEN c.snippet
  END,
  c.internal::text,
  ({{number}} = x.n)::text]
FROM (SELECT %s::tsquery AS q, %s::text AS title_options, %s::text AS snippet_options, %s::bigint AS n) x
CROSS JOIN LATERAL (
  SELECT CASE
    WHEN ts_filter({{vector}}, '{{{{b}}}}') @@ x.q THEN 'description'
    WHEN ts_filter({{vector}}, '{{{{d}}}}') @@ x.q THEN 'resolution_note'
    WHEN ts_filter({{vector}}, '{{{{c}}}}') @@ x.q THEN 'comment'
  END AS source
) s
LEFT JOIN LATERAL (
  SELECT c.internal, {_headline("c.body")} AS snippet
  FROM tickets_ticketcomment c
  WHERE s.source = 'comment' AND c.ticket_id = {{id}}{{public_only}}
    AND to_tsvector('{CONFIG}'::regconfig, c.body) @@ x.q
  ORDER BY c.id DESC
  LIMIT 1
) c ON true
)"""

# A search without a word to mark (`-laser` alone): nothing but the number.
NUMBER_ONLY_SQL = "ARRAY[NULL, NULL, NULL, NULL, ({number} = %s::bigint)::text]::text[]"


class Highlight(Func):
    """The `HIGHLIGHT` value of a ticket for a compiled search (see HIGHLIGHT_SQL): one
    scalar subquery per row, evaluated for the rows a page loads. `agent`: an internal
    comment may give the snippet (and the agents' vector says where the words are)."""

    output_field = ArrayField(TextField())

    def __init__(self, search: CompiledSearch, *, agent: bool):
        super().__init__(F("id"), F("number"), F("title"), F("description"), F("resolution_note"),
                         F(_vector(agent)))
        self.search, self.agent = search, agent

    def as_sql(self, compiler, connection, **extra):
        columns = []
        for expression in self.get_source_expressions():
            sql, params = compiler.compile(expression)
            if params:  # column references only
                raise ValueError("a highlight reads columns, not parameters")
            columns.append(sql)
        pk, number, title, description, note, vector = columns
        if not self.search.any_tsquery:
            return NUMBER_ONLY_SQL.format(number=number), [self.search.number]
        sql = HIGHLIGHT_SQL.format(id=pk, number=number, title=title, description=description,
                                   resolution_note=note, vector=vector,
                                   public_only="" if self.agent else " AND NOT c.internal")
        return sql, [self.search.any_tsquery, _TITLE_OPTIONS, _SNIPPET_OPTIONS, self.search.number]


@dataclass(frozen=True)
class Hit:
    """Why a ticket is in a search's results, for showing it: the title and a snippet of the
    text that matched (HTML: the text escaped, the matched words in <mark>), where the
    snippet comes from (`SOURCES`, None when only the title or number matched) and whether
    the query was the ticket's number."""

    title_html: SafeString
    snippet_html: SafeString
    source: str | None
    number: bool


def _marked(headline: str) -> SafeString:
    """ts_headline's output of HIGHLIGHT_SQL (text HTML-escaped there, without marker
    characters of its own) with the markers made into <mark> elements."""
    if any(char in headline for char in "<>\"'"):  # never, as HIGHLIGHT_SQL escapes; if ever, escape it all
        headline = escape(headline)
    return mark_safe(headline.replace(_START, "<mark>").replace(_STOP, "</mark>"))  # noqa: S308


def hit(ticket) -> Hit | None:
    """The `Hit` of a ticket of a list searched with `highlight=True`; None for any other."""
    raw = getattr(ticket, HIGHLIGHT, None)
    if raw is None:
        return None
    title, source, snippet, internal, number = (list(raw) + [None] * 5)[:5]
    if source == SOURCE_COMMENT and internal == "true":
        source = SOURCE_INTERNAL
    if not snippet:
        source = None
    return Hit(
        title_html=_marked(title) if title is not None else escape(ticket.title),
        snippet_html=_marked(snippet) if snippet else mark_safe(""),
        source=source,
        number=number == "true",
    )
