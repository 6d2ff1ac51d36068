"""The PostgreSQL backend of the test suite (config.settings_test); see base.py."""
