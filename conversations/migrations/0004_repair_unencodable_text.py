"""Repair JSON values stored with lone surrogates before the request parser refused them.

Only SQLite could store them (Django writes JSON there as ASCII text with \\udXXX
escapes); every later read of such a row answered 500. Lone surrogates and NUL become
U+FFFD. PostgreSQL refused them at the insert, so there is nothing to repair there.
"""

from django.db import migrations

from janserver.http.json_body import storable

JSON_FIELDS = {
    "Conversation": ("metadata",),
    "Item": ("content", "output", "summary"),
    "Response": ("input", "parameters", "metadata", "output", "usage", "error"),
    "IdempotencyKey": ("result",),
}


def repair(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name, fields in JSON_FIELDS.items():
        model = apps.get_model("conversations", name)
        columns = [model._meta.get_field(field).column for field in fields]
        # Candidates only: the escape of a surrogate (lowercase, as json.dumps writes it).
        where = " OR ".join(f"{column} LIKE %s" for column in columns)
        candidates = model.objects.extra(where=[where], params=["%\\ud%"] * len(columns))
        for row in candidates.iterator():
            before = {field: getattr(row, field) for field in fields}
            after = {field: storable(value) for field, value in before.items()}
            if after != before:
                model.objects.filter(pk=row.pk).update(**after)


class Migration(migrations.Migration):
    dependencies = [("conversations", "0003_item_indexes")]

    operations = [migrations.RunPython(repair, migrations.RunPython.noop)]
