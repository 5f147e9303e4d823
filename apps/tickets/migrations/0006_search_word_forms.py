"""Search that finds tickets (issue 11, item 5; ADR 0020).

* The extensions `unaccent` and `pg_trgm` and the text search configuration
  `public.warden_search` (simple + unaccent), all in the PUBLIC schema: this migration runs
  in every tenant schema (the base schema first, ADR 0002), and an unqualified
  CREATE EXTENSION would put the extension into whichever schema runs it first (the base,
  whose functions the cloner would then try to copy into every tenant). `IF NOT EXISTS`
  and the existence check make it a no-op in every schema after the first. Both
  extensions are trusted: the database owner may create them without being superuser.
* The agents' vector `search_vector_all` (everything, internal comments too) replaces
  `search_vector_internal` (internal comments only): an agent's AND query may find its
  words in a public comment and an internal note of the same ticket.
* The resolution note is indexed (weight D).
* `tickets_searchword`: the words of the tenant's tickets with their English stems, what a
  typed word is widened to (trigram index for the Polish-style forms).
* Every vector recomputed with the new configuration, and the word list filled from them
  (the GIN index of the public vector is dropped meanwhile and built again after).

The SQL is written out here (not imported from apps.tickets.search) so that this migration
does what it did when it was written. Reversing it restores the previous vectors ("simple",
internal comments apart); the extensions and the configuration stay (other schemas use them).
"""

import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models

EXTENSIONS = """
CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_ts_config
                 WHERE cfgname = 'warden_search' AND cfgnamespace = 'public'::regnamespace) THEN
    CREATE TEXT SEARCH CONFIGURATION public.warden_search (COPY = pg_catalog.simple);
    ALTER TEXT SEARCH CONFIGURATION public.warden_search
      ALTER MAPPING FOR word, hword, hword_part, numword, numhword, hword_numpart WITH public.unaccent, pg_catalog.simple;
  END IF;
END
$$;
"""

_COMMENTS = """
  LEFT JOIN (
    SELECT ticket_id,
           string_agg(body, E'\\n' ORDER BY id) FILTER (WHERE NOT internal) AS public,
           string_agg(body, E'\\n' ORDER BY id) FILTER (WHERE internal) AS internal
    FROM tickets_ticketcomment GROUP BY ticket_id
  ) c ON c.ticket_id = x.id"""

REFRESH = f"""
UPDATE tickets_ticket t SET search_vector = v.public, search_vector_all = v.public || v.internal
FROM (
  SELECT x.id,
         setweight(to_tsvector('public.warden_search', coalesce(x.title, '')), 'A')
      || setweight(to_tsvector('public.warden_search', coalesce(x.description, '')), 'B')
      || setweight(to_tsvector('public.warden_search', coalesce(x.resolution_note, '')), 'D')
      || setweight(to_tsvector('public.warden_search', coalesce(c.public, '')), 'C') AS public,
         setweight(to_tsvector('public.warden_search', coalesce(c.internal, '')), 'C') AS internal
  FROM tickets_ticket x{_COMMENTS}
) v
WHERE v.id = t.id;

INSERT INTO tickets_searchword (word, stem)
SELECT word, (ts_lexize('english_stem', word))[1]
FROM ts_stat('SELECT search_vector_all FROM tickets_ticket')
WHERE length(word) BETWEEN 3 AND 40 AND word ~ '[[:alpha:]]';
"""

PREVIOUS = f"""
UPDATE tickets_ticket t SET search_vector = v.public, search_vector_internal = v.internal
FROM (
  SELECT x.id,
         setweight(to_tsvector('simple', coalesce(x.title, '')), 'A')
      || setweight(to_tsvector('simple', coalesce(x.description, '')), 'B')
      || setweight(to_tsvector('simple', coalesce(c.public, '')), 'C') AS public,
         setweight(to_tsvector('simple', coalesce(c.internal, '')), 'C') AS internal
  FROM tickets_ticket x{_COMMENTS}
) v
WHERE v.id = t.id;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('tickets', '0005_routing_follow_ups_desk_settings'),
    ]

    operations = [
        migrations.RunSQL(EXTENSIONS, migrations.RunSQL.noop),
        migrations.CreateModel(
            name='SearchWord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('word', models.TextField()),
                ('stem', models.TextField(blank=True, null=True)),
            ],
            options={
                'indexes': [
                    models.Index(fields=['word'], name='tickets_searchword_word'),
                    models.Index(fields=['stem'], name='tickets_searchword_stem'),
                    django.contrib.postgres.indexes.GinIndex(
                        fields=['word'], name='tickets_searchword_trgm', opclasses=['gin_trgm_ops'],
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name='ticket',
            name='search_vector_all',
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        # Backwards only: the previous vectors, once search_vector_internal is back.
        migrations.RunSQL(migrations.RunSQL.noop, PREVIOUS),
        migrations.RemoveIndex(
            model_name='ticket',
            name='tickets_search_int_gin',
        ),
        migrations.RemoveField(
            model_name='ticket',
            name='search_vector_internal',
        ),
        # Every row is rewritten: build the GIN indexes once, after.
        migrations.RemoveIndex(
            model_name='ticket',
            name='tickets_search_gin',
        ),
        migrations.RunSQL(REFRESH, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name='ticket',
            index=django.contrib.postgres.indexes.GinIndex(fields=['search_vector'], name='tickets_search_gin'),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=django.contrib.postgres.indexes.GinIndex(fields=['search_vector_all'], name='tickets_search_all_gin'),
        ),
    ]
