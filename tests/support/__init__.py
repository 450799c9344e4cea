"""Helpers the tests share: real servers on loopback, relays and proxies that fail on purpose,
a headless browser, the processes a test starts, a home with a first champion."""
