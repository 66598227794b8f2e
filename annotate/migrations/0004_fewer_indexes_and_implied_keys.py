"""Fewer writes per ranking: indexes other indexes already cover, and the ranking entries' single-column
foreign keys, which the composite keys of 0002 imply (see RankingEntry).

SQLite: altering the entry's foreign keys rebuilds its table, which drops 0002's triggers; they
are created again here. (Deleting a ranked completion or a ranking with entries is refused there by
the ORM's PROTECT / CASCADE; a trigger refusing it would also refuse the test runner's flush, which
empties the tables in name order.)
"""

from importlib import import_module

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

entry_integrity = import_module("annotate.migrations.0002_ranking_entry_prompt_integrity")


def sqlite_only(function):
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "sqlite":
            function(schema_editor)

    return apply


def entry_triggers_create(schema_editor) -> None:
    for drop, create in zip(entry_integrity.SQLITE_BACKWARD, entry_integrity.SQLITE_FORWARD, strict=True):
        schema_editor.execute(drop.replace("DROP TRIGGER", "DROP TRIGGER IF EXISTS"))
        schema_editor.execute(create)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0003_prompt_task_counters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Backwards, this runs last: the rebuilt entry table gets 0002's triggers back.
        migrations.RunPython(migrations.RunPython.noop, sqlite_only(entry_triggers_create)),
        migrations.AlterField(
            model_name="assignment",
            name="annotator",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="assignments",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="assignment",
            name="prompt",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="assignments",
                to="annotate.prompt",
            ),
        ),
        migrations.AlterField(
            model_name="prompt",
            name="project",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="prompts",
                to="annotate.project",
            ),
        ),
        migrations.AlterField(
            model_name="rankingentry",
            name="completion",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="ranking_entries",
                to="annotate.completion",
            ),
        ),
        migrations.AlterField(
            model_name="rankingentry",
            name="prompt",
            field=models.ForeignKey(
                db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="annotate.prompt"
            ),
        ),
        migrations.AlterField(
            model_name="rankingentry",
            name="ranking",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="entries",
                to="annotate.ranking",
            ),
        ),
        migrations.RunPython(sqlite_only(entry_triggers_create), migrations.RunPython.noop),
    ]
