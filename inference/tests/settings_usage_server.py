"""Settings for a real server in the usage tests: the test routes plus a usage view.

The periodic flush is pushed out of reach, so that records reach the database only
through the shutdown flush.
"""

from janserver.tests.settings_server import *  # noqa: F403

ROOT_URLCONF = "inference.tests.usage_test_urls"
USAGE_FLUSH_SECONDS = 3600.0
USAGE_FLUSH_BATCH = 100_000
