import pytest


@pytest.fixture(autouse=True)
def _one_process(settings):
    # Batch processes read the database through their own connections: they cannot see a test's transaction.
    settings.OMNITRON_IMPORT_PROCESSES = 1
