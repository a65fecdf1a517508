"""Spec bodies move to content-addressed chunks (console.publishing.bodies): each version
lists its bodies' chunk digests, and a chunk is stored once whoever holds it. A spec
stored before becomes one chunk per body (a body cut otherwise reads the same); backward,
each spec's bodies are joined again from its chunks."""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

DIGEST = "encode(sha256(convert_to({}, 'UTF8')), 'hex')"

FORWARD = f"""
DO $$
BEGIN
    ALTER TABLE console_specchunk ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not supported by this server: spec chunks stay pglz';
END
$$;
INSERT INTO console_specchunk (project_id, digest, body)
    SELECT project_id, {DIGEST.format("body")}, body
    FROM (SELECT environment.project_id, spec.v1_json AS body
          FROM console_configspec AS spec
          JOIN console_environment AS environment ON environment.id = spec.environment_id
          UNION
          SELECT environment.project_id, spec.v2_json
          FROM console_configspec AS spec
          JOIN console_environment AS environment ON environment.id = spec.environment_id
         ) AS bodies
    WHERE body <> ''
    ON CONFLICT (digest, project_id) DO NOTHING;
UPDATE console_configspec SET
    v1_chunks = CASE WHEN v1_json = '' THEN '{{}}' ELSE ARRAY[{DIGEST.format("v1_json")}] END,
    v2_chunks = CASE WHEN v2_json = '' THEN '{{}}' ELSE ARRAY[{DIGEST.format("v2_json")}] END;
"""

JOINED = """coalesce((
    SELECT string_agg(chunk.body, '' ORDER BY listed.position)
    FROM unnest({}) WITH ORDINALITY AS listed (digest, position)
    JOIN console_specchunk AS chunk ON chunk.digest = listed.digest
    JOIN console_environment AS environment ON environment.id = console_configspec.environment_id
    WHERE chunk.project_id = environment.project_id), '')"""

BACKWARD = f"""
UPDATE console_configspec SET
    v1_json = {JOINED.format("v1_chunks")},
    v2_json = {JOINED.format("v2_chunks")};
"""

CHUNKS = django.contrib.postgres.fields.ArrayField(
    base_field=models.CharField(max_length=64), default=list, size=None
)


class Migration(migrations.Migration):
    dependencies = [("console", "0007_configspec_lz4_bodies")]

    operations = [
        migrations.CreateModel(
            name="SpecChunk",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("digest", models.CharField(max_length=64)),
                ("body", models.TextField()),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="console.project",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("digest", "project"), name="console_specchunk_digest_unique"
                    )
                ]
            },
        ),
        migrations.AddField(model_name="configspec", name="v1_chunks", field=CHUNKS),
        migrations.AddField(model_name="configspec", name="v2_chunks", field=CHUNKS),
        # Backward, the bodies are filled before the chunk lists go (the operations undo in
        # reverse order), and the columns come back empty first.
        migrations.AlterField(
            model_name="configspec", name="v1_json", field=models.TextField(default="")
        ),
        migrations.AlterField(
            model_name="configspec", name="v2_json", field=models.TextField(default="")
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RemoveField(model_name="configspec", name="v1_json"),
        migrations.RemoveField(model_name="configspec", name="v2_json"),
    ]
