from django.db import migrations

# PostgreSQL only: each statement that writes events wakes the workers (LISTEN omnitron_events) when its transaction
# commits; notifications of one transaction with the same text are sent once. SQLite's workers poll.
CREATE = """
CREATE FUNCTION omnitron_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('omnitron_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER omnitron_notify_events AFTER INSERT ON events_event
    FOR EACH STATEMENT EXECUTE FUNCTION omnitron_notify_events();
"""
DROP = """
DROP TRIGGER IF EXISTS omnitron_notify_events ON events_event;
DROP FUNCTION IF EXISTS omnitron_notify_events();
"""


def run(sql):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return operation


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial"), ("events", "0001_initial")]

    operations = [migrations.RunPython(run(CREATE), run(DROP))]
