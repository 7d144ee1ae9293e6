"""`omnitron_list_count(matching, exact_limit)`: a list's total by the rule of apicore.pagination, in the database, so
that the read path (apicore.readpath) counts in the same statement that reads the page.

`matching` is `SELECT <id> FROM <table> WHERE <the list's filters>` with its values written in; the answer is the
planner's estimate for it when that is above twice `exact_limit` (flagged estimated), else the count of at most
`exact_limit + 1` matches: exact up to `exact_limit`, the estimate (at least `exact_limit + 1`) above it. An
`exact_limit` of 0 counts every match.
"""

from django.db import migrations

from apicore.db import PostgresOnlySQL

FUNCTION = """
CREATE OR REPLACE FUNCTION omnitron_list_count(matching text, exact_limit bigint, OUT total bigint, OUT estimated boolean)
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
    estimate bigint;
BEGIN
    estimated := false;
    IF exact_limit = 0 THEN
        EXECUTE format('SELECT count(*) FROM (%s) matching', matching) INTO total;
        RETURN;
    END IF;
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || matching INTO plan;
    estimate := (plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric::bigint;
    IF estimate <= exact_limit * 2 THEN
        EXECUTE format('SELECT count(*) FROM (%s LIMIT %s) matching', matching, exact_limit + 1) INTO total;
        IF total <= exact_limit THEN
            RETURN;
        END IF;
        estimate := greatest(estimate, exact_limit + 1);
    END IF;
    total := estimate;
    estimated := true;
END
$$
"""


class Migration(migrations.Migration):
    dependencies = [("apicore", "0001_initial")]

    operations = [
        PostgresOnlySQL(FUNCTION, "DROP FUNCTION IF EXISTS omnitron_list_count(text, bigint)"),
    ]
