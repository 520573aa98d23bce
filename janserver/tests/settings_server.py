"""Settings for a real server started by the tests: test settings plus the test routes."""

from janserver.settings_test import *  # noqa: F403

ROOT_URLCONF = "janserver.tests.urls"
