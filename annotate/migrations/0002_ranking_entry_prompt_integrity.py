"""Database-level proof that a ranking only ranks its own prompt's completions.

PostgreSQL: composite foreign keys (completion_id, prompt_id) -> completion (id, prompt_id)
and (ranking_id, prompt_id) -> ranking (id, prompt_id). SQLite cannot add a foreign key to
an existing table, so there the same rule is two triggers.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    """ALTER TABLE annotate_rankingentry ADD CONSTRAINT rankingentry_completion_of_prompt
       FOREIGN KEY (completion_id, prompt_id) REFERENCES annotate_completion (id, prompt_id)""",
    """ALTER TABLE annotate_rankingentry ADD CONSTRAINT rankingentry_ranking_of_prompt
       FOREIGN KEY (ranking_id, prompt_id) REFERENCES annotate_ranking (id, prompt_id)""",
]
POSTGRES_BACKWARD = [
    "ALTER TABLE annotate_rankingentry DROP CONSTRAINT rankingentry_completion_of_prompt",
    "ALTER TABLE annotate_rankingentry DROP CONSTRAINT rankingentry_ranking_of_prompt",
]
SQLITE_CHECK = """
    SELECT RAISE(ABORT, 'ranking entry: completion or ranking belongs to another prompt')
    WHERE (SELECT prompt_id FROM annotate_completion WHERE id = NEW.completion_id) IS NOT NEW.prompt_id
       OR (SELECT prompt_id FROM annotate_ranking WHERE id = NEW.ranking_id) IS NOT NEW.prompt_id;
"""
SQLITE_FORWARD = [
    f"CREATE TRIGGER rankingentry_prompt_insert BEFORE INSERT ON annotate_rankingentry BEGIN {SQLITE_CHECK} END",
    f"CREATE TRIGGER rankingentry_prompt_update BEFORE UPDATE ON annotate_rankingentry BEGIN {SQLITE_CHECK} END",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER rankingentry_prompt_insert",
    "DROP TRIGGER rankingentry_prompt_update",
]


def run(statements_by_vendor: dict[str, list[str]]):
    def apply(apps, schema_editor) -> None:
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("annotate", "0001_initial")]

    operations = [
        migrations.RunPython(
            run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
