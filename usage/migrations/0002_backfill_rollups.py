"""Formerly the backfill of the usage recorded before the rollups existed; it runs in
0004 now, after 0003 added a column that the rebuild writes (a database that applied
this migration already has its rollups)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0001_initial"),
        ("inference", "0001_initial"),
    ]

    operations = []
