import json

from django.db import migrations


def fill(apps, schema_editor):
    """Each environment's newest spec gets its behaviour checksum (what a dry run compares
    with); older specs keep "" (never read for it)."""
    from console.specs.behaviour import behaviour_checksum

    ConfigSpec = apps.get_model("console", "ConfigSpec")
    newest = (
        ConfigSpec.objects.order_by("environment_id", "-time_ms")
        .distinct("environment_id")
        .values_list("pk", flat=True)
    )
    for pk in list(newest):
        spec = ConfigSpec.objects.only("v1_json").get(pk=pk)
        spec.behaviour_checksum = behaviour_checksum(json.loads(spec.v1_json))
        spec.save(update_fields=["behaviour_checksum"])


class Migration(migrations.Migration):
    dependencies = [("console", "0005_configspec_behaviour_checksum")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
