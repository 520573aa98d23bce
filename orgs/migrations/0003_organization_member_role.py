"""Organization members without admin rights (role "member").

Everyone who signed up was joined to the default organization as a reader, which let
guests read its members, projects and keys. Readers of the default organization who
never accepted an invite to it become members: they keep their projects and lose
only the admin routes, which an owner can grant again.
"""

from django.conf import settings
from django.db import migrations, models
from django.db.models import Exists, OuterRef


def demote_self_registered_readers(apps, schema_editor):
    OrganizationMember = apps.get_model("orgs", "OrganizationMember")
    Invite = apps.get_model("orgs", "Invite")
    invited = Invite.objects.filter(
        organization_id=OuterRef("organization_id"),
        email=OuterRef("user__email"),
        status="accepted",
    )
    OrganizationMember.objects.filter(
        organization__is_default=True, role="reader"
    ).exclude(Exists(invited)).update(role="member")


def members_back_to_readers(apps, schema_editor):
    # The schema before this migration knows no "member" role.
    OrganizationMember = apps.get_model("orgs", "OrganizationMember")
    Invite = apps.get_model("orgs", "Invite")
    OrganizationMember.objects.filter(role="member").update(role="reader")
    Invite.objects.filter(role="member").update(role="reader")


class Migration(migrations.Migration):

    dependencies = [
        ('orgs', '0002_default_organization'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='invite',
            name='orgs_invite_role_valid',
        ),
        migrations.RemoveConstraint(
            model_name='organizationmember',
            name='orgs_member_role_valid',
        ),
        migrations.AlterField(
            model_name='invite',
            name='role',
            field=models.CharField(choices=[('owner', 'Owner'), ('reader', 'Reader'), ('member', 'Member')], default='reader', max_length=16),
        ),
        migrations.AlterField(
            model_name='organizationmember',
            name='role',
            field=models.CharField(choices=[('owner', 'Owner'), ('reader', 'Reader'), ('member', 'Member')], default='member', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='invite',
            constraint=models.CheckConstraint(condition=models.Q(('role__in', ['owner', 'reader', 'member'])), name='orgs_invite_role_valid'),
        ),
        migrations.AddConstraint(
            model_name='organizationmember',
            constraint=models.CheckConstraint(condition=models.Q(('role__in', ['owner', 'reader', 'member'])), name='orgs_member_role_valid'),
        ),
        migrations.RunPython(demote_self_registered_readers, members_back_to_readers),
    ]
