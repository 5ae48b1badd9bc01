"""End-to-end tests: the real server driven in Debian's Chromium through Playwright."""
