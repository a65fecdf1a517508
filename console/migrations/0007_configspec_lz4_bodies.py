"""Spec bodies are stored compressed with lz4 instead of pglz (PostgreSQL's default): a
10,000-gate environment's v1 + v2 (about 20 MB of JSON) is inserted in about a quarter of
the time, for about the same size on disk, and read back faster by each push. Rows written
before keep pglz; both read alike. A server built without lz4 keeps the default."""

from django.db import migrations

FORWARD = """
DO $$
BEGIN
    ALTER TABLE console_configspec
        ALTER COLUMN v1_json SET COMPRESSION lz4,
        ALTER COLUMN v2_json SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not supported by this server: spec bodies stay pglz';
END
$$;
"""

BACKWARD = """
ALTER TABLE console_configspec
    ALTER COLUMN v1_json SET COMPRESSION default,
    ALTER COLUMN v2_json SET COMPRESSION default;
"""


class Migration(migrations.Migration):
    dependencies = [("console", "0006_fill_behaviour_checksum")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
