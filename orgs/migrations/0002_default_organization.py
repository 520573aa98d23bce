"""Create the default organization (Jan compatibility)."""

from django.db import migrations

from janserver.ids import new_org_id


def create_default_organization(apps, schema_editor):
    Organization = apps.get_model("orgs", "Organization")
    if not Organization.objects.filter(is_default=True).exists():
        Organization.objects.create(public_id=new_org_id(), name="Default", is_default=True)


class Migration(migrations.Migration):
    dependencies = [("orgs", "0001_initial")]

    operations = [migrations.RunPython(create_default_organization, migrations.RunPython.noop)]
