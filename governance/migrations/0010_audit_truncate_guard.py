"""The audit trail cannot be emptied by TRUNCATE, and only its owner holds more than SELECT and INSERT on it.

Row triggers (0003) do not fire on TRUNCATE: a statement trigger refuses it for every role, the owner's
included (a deliberate owner would have to drop the trigger first: DDL, which the service's role cannot do).
Destruction records (0008) get the same guard. Privileges: whoever was granted UPDATE, DELETE, TRUNCATE,
REFERENCES, TRIGGER or MAINTAIN on the audit tables (the application role, through the owner's default
privileges) loses them; see config.db_roles."""

from django.db import migrations

GUARDED = ("governance_auditevent", "governance_auditcheckpoint", "governance_destructionrecord")

TRUNCATE_GUARD = """
CREATE OR REPLACE FUNCTION governance_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: TRUNCATE on % is not allowed', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION governance_audit_no_truncate();\n"
    for table in GUARDED
)
REMOVE_TRUNCATE_GUARD = (
    "".join(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};\n" for table in GUARDED)
    + "DROP FUNCTION IF EXISTS governance_audit_no_truncate();\n"
)

# Every grantee but the owner (PUBLIC included) keeps at most SELECT and INSERT, whatever the role is called.
NARROW_PRIVILEGES = """
DO $$
DECLARE
    granted record;
BEGIN
    FOR granted IN
        SELECT c.oid::regclass AS tab, a.grantee, a.privilege_type
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN ('governance_auditevent', 'governance_auditcheckpoint')
          AND a.grantee <> c.relowner AND a.privilege_type NOT IN ('SELECT', 'INSERT')
    LOOP
        EXECUTE format('REVOKE %s ON %s FROM %s', granted.privilege_type, granted.tab,
                       CASE WHEN granted.grantee = 0 THEN 'PUBLIC' ELSE granted.grantee::regrole::text END);
    END LOOP;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0009_processing_labels"),
    ]

    operations = [
        migrations.RunSQL(TRUNCATE_GUARD, REMOVE_TRUNCATE_GUARD),
        # Not undone: giving the application back UPDATE and DELETE on the trail is not a migration's call.
        migrations.RunSQL(NARROW_PRIVILEGES, migrations.RunSQL.noop),
    ]
