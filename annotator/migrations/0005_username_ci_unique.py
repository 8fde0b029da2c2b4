"""Usernames unique whatever their case: a unique index on LOWER(username) of auth_user
(SQLite and PostgreSQL both index expressions). Sign-up checks first and answers 400
``username_taken``; the index settles two sign-ups racing for "Alice" and "alice".

Existing accounts that differ only in case stop the migration with their names: rename
or remove one of each pair, then migrate again."""

from django.db import migrations

INDEX = "auth_user_username_lower_uniq"


def refuse_case_duplicates(apps, schema_editor):
    from django.db.models.functions import Lower
    from django.db.models import Count

    User = apps.get_model("auth", "User")
    clashes = (
        User.objects.annotate(folded=Lower("username"))
        .values("folded")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("folded", flat=True)
    )
    names = sorted(clashes)
    if names:
        raise RuntimeError(
            "usernames that differ only in case must be resolved before this migration: "
            + ", ".join(names[:20])
        )


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0004_job_lifecycle"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.RunSQL(
            f"CREATE UNIQUE INDEX {INDEX} ON auth_user (LOWER(username))",
            f"DROP INDEX {INDEX}",
        ),
    ]
