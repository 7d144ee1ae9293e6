"""`omnitron_estimate(matching)`: the planner's estimate of the rows `matching` returns (`SELECT ... WHERE ...` with
its values written in). The read path (apicore.readpath) asks it before probing a filter that a GIN index serves:
such an index reads every match of a value before the first row (a bitmap), so for a broad value walking the list's
order is far cheaper than the probe."""

from django.db import migrations

from apicore.db import PostgresOnlySQL

FUNCTION = """
CREATE OR REPLACE FUNCTION omnitron_estimate(matching text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || matching INTO plan;
    RETURN (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
END
$$
"""


class Migration(migrations.Migration):
    dependencies = [("apicore", "0002_list_count")]

    operations = [PostgresOnlySQL(FUNCTION, "DROP FUNCTION IF EXISTS omnitron_estimate(text)")]
